/* backends/cpu/philox_rows.c, the vectorised Philox4x32-10 behind
 * rand_uniform, against clgrad/philox.h's one-block reference (itself checked
 * against Random123's known answers in tests/core/test_layers.c): the same
 * bits for every group length (whole groups and tails that are not a
 * multiple of 4), for groups whose block numbers cross 2^32 (the counter's
 * high word), and for several seeds, streams and steps; on each path the
 * CPU runs (portable C, AVX2). */
#include "philox_rows.h"

#include <clgrad/philox.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_group_path(uint64_t g, int64_t n, uint32_t seed, uint32_t stream,
                             uint32_t step, int path)
{
    const int64_t per = cpu_philox_group_elems();
    float got[256];
    ck_assert(per <= 255 && n <= per);
    got[n] = 42.0f; /* must stay: nothing written past n */
    cpu_philox_uniform_group_path(got, n, g, seed, stream, step, path);
    for (int64_t i = 0; i < n; i++) {
        const float want = clg_philox_uniform(seed, stream, step, g * (uint64_t)per + (uint64_t)i);
        ck_assert_msg(memcmp(&got[i], &want, sizeof want) == 0,
                      "path %d group %llu element %lld (seed %u stream %u step %u): %a, want %a",
                      path, (unsigned long long)g, (long long)i, seed, stream, step, (double)got[i],
                      (double)want);
    }
    ck_assert(got[n] == 42.0f);
}

static int n_paths, paths[2];

/* Each path this CPU runs (the portable C one always). */
static void check_group(uint64_t g, int64_t n, uint32_t seed, uint32_t stream, uint32_t step)
{
    for (int k = 0; k < n_paths; k++)
        check_group_path(g, n, seed, stream, step, paths[k]);
}

START_TEST(every_length)
{
    const int64_t per = cpu_philox_group_elems();
    ck_assert(per % 4 == 0);
    for (int64_t n = 0; n <= per; n++)
        for (uint64_t g = 0; g < 5; g++)
            check_group(g, n, 1234u, 5u, 7u);
}
END_TEST

START_TEST(high_counter_word)
{
    const int64_t per = cpu_philox_group_elems();
    /* groups whose blocks straddle 2^32 and lie far above it */
    const uint64_t first = ((uint64_t)1 << 32) / (uint64_t)(per / 4);
    const uint64_t groups[] = { first - 1, first, first + 1, (uint64_t)1 << 40,
                                ((uint64_t)1 << 60) / (uint64_t)per };
    for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
        check_group(groups[k], per, 99u, 3u, 11u);
        check_group(groups[k], per - 3, 99u, 3u, 11u);
    }
}
END_TEST

START_TEST(keys_and_steps)
{
    const int64_t per = cpu_philox_group_elems();
    const uint32_t vals[] = { 0u, 1u, 0x9E3779B9u, 0xFFFFFFFFu, 123456789u };
    const int nv = (int)(sizeof vals / sizeof vals[0]);
    for (int a = 0; a < nv; a++)
        for (int b = 0; b < nv; b++)
            for (int c = 0; c < nv; c++)
                check_group((uint64_t)(a * 7 + b * 3 + c), (a + b + c) % 2 ? per : per - 1,
                            vals[a], vals[b], vals[c]);
}
END_TEST

int main(void)
{
    paths[n_paths++] = CPU_PHILOX_C;
    if (cpu_philox_best_path() != CPU_PHILOX_C)
        paths[n_paths++] = cpu_philox_best_path();
    printf("philox: checking %d path(s)%s\n", n_paths, n_paths > 1 ? " (C, AVX2)" : " (C)");
    Suite *s = suite_create("cpu-philox");
    TCase *tc = tcase_create("philox");
    tcase_add_test(tc, every_length);
    tcase_add_test(tc, high_counter_word);
    tcase_add_test(tc, keys_and_steps);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
