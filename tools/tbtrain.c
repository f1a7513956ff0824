/* What `train --tensorboard DIR` logs (docs/cli.md): per batch under
 * step/ (x axis: the batch number since the run's first), per epoch under
 * the names PyTorch users give them (x axis: the epoch). Each function
 * prints its error, naming --tensorboard and the events file. */
#include "cli.h"

#include <math.h>

cli_tb *cli_tb_train_open(const char *dir)
{
    char err[600];
    cli_tb *w = cli_tb_open(dir, err, sizeof err);
    if (!w)
        cli_error("--tensorboard %s: %s", cli_short(dir), err);
    return w;
}

static int failed(const cli_tb *w)
{
    cli_error("--tensorboard: %s", cli_tb_error(w));
    return -1;
}

int cli_tb_train_step(cli_tb *w, int64_t step, double loss, double loss_mean, double lr)
{
    if ((!isnan(loss) && cli_tb_scalar(w, "step/loss", step, loss)) ||
        (!isnan(loss_mean) && cli_tb_scalar(w, "step/loss_mean", step, loss_mean)) ||
        cli_tb_scalar(w, "step/lr", step, lr))
        return failed(w);
    return 0;
}

int cli_tb_train_epoch(cli_tb *w, const cli_epoch *e, int has_test, int classifying)
{
    /* A test loss that became nan is logged as nan; one that does not exist
     * is not logged. */
    const struct {
        const char *tag;
        double v;
        int have;
    } s[] = {
        { "loss/train", e->train_loss, 1 },
        { "loss/test", e->test_loss, has_test },
        { "accuracy/test", e->test_accuracy, has_test && classifying },
        { "lr", e->lr, 1 },
        { "throughput/samples_per_s", e->samples_per_s, 1 },
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i].have && cli_tb_scalar(w, s[i].tag, e->epoch, s[i].v))
            return failed(w);
    /* Once per epoch, so `tensorboard` shows the run as it trains. */
    return cli_tb_flush(w) ? failed(w) : 0;
}

int cli_tb_train_close(cli_tb *w)
{
    char err[600];
    if (cli_tb_close(w, err, sizeof err)) {
        cli_error("--tensorboard: %s", err);
        return -1;
    }
    return 0;
}
