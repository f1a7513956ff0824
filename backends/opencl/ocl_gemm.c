/* MATMUL: out[b] = op(A[b]) @ op(B[b]) through CLBlast (default) or the
 * fallback k_gemm kernel (CLGRAD_OPENCL_GEMM=own). Operands are row-major
 * [batch, rows, cols] at element offsets in their buffers; a batch of 1
 * broadcasts (batch stride 0). */
#include "ocl_internal.h"

#include <clblast_c.h>
#include <stdio.h>
#include <string.h>

typedef struct gemm_shape {
    size_t M, N, K, batch;
    size_t a_stride, b_stride; /* elements between batches; 0 broadcasts */
    int ta, tb;
} gemm_shape;

static clg_status check_shapes(clg_bk_device *dev, const clg_bk_op *op, gemm_shape *g)
{
    const clg_bk_tensor *a = &op->in[0], *b = &op->in[1], *o = &op->out;
    if (a->ndim != 3 || b->ndim != 3 || o->ndim != 3)
        return ocl_fail(dev, CLG_ERR_INVALID,
                        "opencl: matmul: operands must be 3-D, got ranks %d, %d -> %d", a->ndim,
                        b->ndim, o->ndim);
    if (a->dtype != CLG_F32 || b->dtype != CLG_F32 || o->dtype != CLG_F32)
        return ocl_fail(dev, CLG_ERR_INVALID, "opencl: matmul: operands must be f32");
    g->ta = clg_param_int(&op->params, CLG_P_TRANS_A) != 0;
    g->tb = clg_param_int(&op->params, CLG_P_TRANS_B) != 0;
    int64_t M = g->ta ? a->dim[2] : a->dim[1], Ka = g->ta ? a->dim[1] : a->dim[2];
    int64_t Kb = g->tb ? b->dim[2] : b->dim[1], N = g->tb ? b->dim[1] : b->dim[2];
    int64_t B = o->dim[0];
    if (Ka != Kb || o->dim[1] != M || o->dim[2] != N || (a->dim[0] != 1 && a->dim[0] != B) ||
        (b->dim[0] != 1 && b->dim[0] != B))
        return ocl_fail(dev, CLG_ERR_INVALID,
                        "opencl: matmul: [%lld, %lld, %lld]%s @ [%lld, %lld, %lld]%s does not "
                        "give [%lld, %lld, %lld]",
                        (long long)a->dim[0], (long long)a->dim[1], (long long)a->dim[2],
                        g->ta ? "^T" : "", (long long)b->dim[0], (long long)b->dim[1],
                        (long long)b->dim[2], g->tb ? "^T" : "", (long long)o->dim[0],
                        (long long)o->dim[1], (long long)o->dim[2]);
    g->M = (size_t)M;
    g->N = (size_t)N;
    g->K = (size_t)Ka;
    g->batch = (size_t)B;
    g->a_stride = a->dim[0] == 1 ? 0 : g->M * g->K;
    g->b_stride = b->dim[0] == 1 ? 0 : g->K * g->N;
    return CLG_OK;
}

static clg_status own_gemm(clg_bk_device *dev, const clg_bk_op *op, const gemm_shape *g)
{
    const clg_bk_tensor *a = &op->in[0], *b = &op->in[1], *o = &op->out;
    cl_kernel k = dev->kernel[K_GEMM];
    cl_int M = (cl_int)g->M, N = (cl_int)g->N, K = (cl_int)g->K, ta = g->ta, tb = g->tb;
    cl_int ao = (cl_int)(a->offset / 4), bo = (cl_int)(b->offset / 4), co = (cl_int)(o->offset / 4);
    cl_int as = (cl_int)g->a_stride, bs = (cl_int)g->b_stride;
    cl_int st = CL_SUCCESS;
    cl_uint i = 0;
#define ARG(v) st |= clSetKernelArg(k, i++, sizeof(v), &(v))
    ARG(M); ARG(N); ARG(K); ARG(ta); ARG(tb);
    ARG(a->buf->mem); ARG(ao); ARG(as);
    ARG(b->buf->mem); ARG(bo); ARG(bs);
    ARG(o->buf->mem); ARG(co);
#undef ARG
    if (st != CL_SUCCESS)
        return ocl_fail(dev, CLG_ERR_BACKEND, "opencl: matmul: setting k_gemm arguments failed");
    size_t ts = (size_t)dev->gemm_tile;
    size_t local[3] = {ts, ts, 1};
    size_t global[3] = {(g->N + ts - 1) / ts * ts, (g->M + ts - 1) / ts * ts, g->batch};
    cl_event *ev = ocl_prof_slot(dev, CLG_OP_MATMUL);
    st = clEnqueueNDRangeKernel(dev->queue, k, 3, NULL, global, local, 0, NULL, ev);
    ocl_prof_commit(dev, ev, st == CL_SUCCESS);
    dev->kernels += st == CL_SUCCESS;
    if (st != CL_SUCCESS)
        return ocl_fail_cl(dev, st, "matmul: enqueue k_gemm %zux%zux%zu batch %zu (tile %zu)",
                           g->M, g->N, g->K, g->batch, ts);
    return CLG_OK;
}

static clg_status clblast_gemm(clg_bk_device *dev, const clg_bk_op *op, const gemm_shape *g)
{
    const clg_bk_tensor *a = &op->in[0], *b = &op->in[1], *o = &op->out;
    CLBlastTranspose ta = g->ta ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastTranspose tb = g->tb ? CLBlastTransposeYes : CLBlastTransposeNo;
    size_t lda = g->ta ? g->M : g->K, ldb = g->tb ? g->K : g->N, ldc = g->N;
    size_t ao = a->offset / 4, bo = b->offset / 4, co = o->offset / 4;
    size_t M = g->M, batch = g->batch;
    /* A shared B under an untransposed A is one tall GEMM: the batches of A
     * and out are contiguous rows. */
    if (batch > 1 && g->b_stride == 0 && g->a_stride != 0 && !g->ta) {
        M *= batch;
        batch = 1;
    }
    CLBlastStatusCode st;
    cl_event *ev = ocl_prof_slot(dev, CLG_OP_MATMUL);
    if (batch == 1) {
        st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, M, g->N, g->K, 1.0f, a->buf->mem, ao,
                          lda, b->buf->mem, bo, ldb, 0.0f, o->buf->mem, co, ldc, &dev->queue, ev);
        ocl_prof_commit(dev, ev, st == CLBlastSuccess);
        dev->kernels += st == CLBlastSuccess;
    } else {
        /* A batch stride of 0 broadcasts; CLBlast 1.5.3 computes it right
         * (tests/opencl checks both sides), but should a build refuse it, one
         * call per batch does the same work. */
        st = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, ta, tb, M, g->N, g->K, 1.0f,
                                        a->buf->mem, ao, lda, g->a_stride, b->buf->mem, bo, ldb,
                                        g->b_stride, 0.0f, o->buf->mem, co, ldc, M * g->N, batch,
                                        &dev->queue, ev);
        ocl_prof_commit(dev, ev, st == CLBlastSuccess);
        dev->kernels += st == CLBlastSuccess;
        if (st != CLBlastSuccess && (g->a_stride == 0 || g->b_stride == 0)) {
            st = CLBlastSuccess;
            for (size_t i = 0; i < batch && st == CLBlastSuccess; i++) {
                cl_event *e = ocl_prof_slot(dev, CLG_OP_MATMUL);
                st = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, M, g->N, g->K, 1.0f,
                                  a->buf->mem, ao + i * g->a_stride, lda, b->buf->mem,
                                  bo + i * g->b_stride, ldb, 0.0f, o->buf->mem,
                                  co + i * M * g->N, ldc, &dev->queue, e);
                ocl_prof_commit(dev, e, st == CLBlastSuccess);
                dev->kernels += st == CLBlastSuccess;
            }
        }
    }
    if (st != CLBlastSuccess)
        return ocl_fail(dev, st == CLBlastTempBufferAllocFailure ? CLG_ERR_NOMEM : CLG_ERR_BACKEND,
                        "opencl: matmul: CLBlast GEMM %zux%zux%zu batch %zu on '%s' failed: "
                        "%s (%d); CLGRAD_OPENCL_GEMM=own selects the built-in kernel",
                        g->M, g->N, g->K, g->batch, dev->name, ocl_clblast_status_name(st),
                        (int)st);
    return CLG_OK;
}

clg_status ocl_matmul(clg_bk_device *dev, const clg_bk_op *op)
{
    gemm_shape g = {0};
    clg_status s = check_shapes(dev, op, &g);
    if (s != CLG_OK)
        return s;
    if (g.M == 0 || g.N == 0 || g.batch == 0)
        return CLG_OK;
    if (g.K == 0) {
        /* An empty sum: zeros, which CLBlast refuses to compute. */
        clg_bk_op fill = *op;
        fill.op = CLG_OP_FILL;
        fill.n_in = 0;
        memset(&fill.params, 0, sizeof fill.params);
        return ocl_exec(dev, &fill);
    }
    return dev->gemm_own ? own_gemm(dev, op, &g) : clblast_gemm(dev, op, &g);
}

/* CLBlast keeps the programs it compiled in a process-wide cache that a
 * static destructor empties at exit, calling clReleaseProgram then. Some
 * implementations cannot take an OpenCL call that late: Oclgrind 21.10 keeps
 * a thread_local stack in every API call, destroyed (glibc runs thread_local
 * destructors first at exit) before CLBlast's destructor writes into it, and
 * the heap is damaged ("corrupted double-linked list"). So the cache is
 * emptied while the process is still running, once no device is open. */
void ocl_gemm_release_cache(void)
{
    CLBlastClearCache();
}
