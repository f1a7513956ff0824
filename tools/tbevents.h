/* TensorBoard event files: scalars as TensorFlow Event records (tbevent.proto,
 * encoded by protobuf-c) in TFRecord framing, one new file per writer, so
 * `tensorboard --logdir` shows a clgrad run. Used by `train --tensorboard`
 * and meant for any other command that logs scalars. Self-contained (no
 * cli.h): errors come back as text for the caller to prefix with its flag. */
#ifndef CLGRAD_TOOLS_TBEVENTS_H
#define CLGRAD_TOOLS_TBEVENTS_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_tb cli_tb;

/* Creates dir if it is absent (its parent must exist), then a new file
 * dir/events.out.tfevents.<time>.<host>.<pid> (never an existing one) whose
 * first record is the file_version event "brain.Event:2". NULL: err holds
 * why, naming the path (a dir that is not a directory, a directory nothing
 * can be created in, ...). */
cli_tb *cli_tb_open(const char *dir, char *err, size_t errlen);
/* One scalar event (value stored as float32, as TensorBoard keeps it),
 * buffered until the next flush. tag: UTF-8 text, as proto3 strings must be
 * ("loss/train": TensorBoard groups tags by the part before '/'). 0, or -1
 * after a failed write (then every later call fails too; cli_tb_error says
 * why). */
int cli_tb_scalar(cli_tb *w, const char *tag, int64_t step, double value);
/* Everything written so far reaches the file (a reader sees it). 0 or -1. */
int cli_tb_flush(cli_tb *w);
/* Flushes, closes and frees w (NULL: nothing). 0, or -1 with err filled:
 * a write of this writer failed, now or before. */
int cli_tb_close(cli_tb *w, char *err, size_t errlen);
const char *cli_tb_error(const cli_tb *w);
const char *cli_tb_path(const cli_tb *w); /* the events file */

/* The TFRecord checksums, for the tests: CRC-32C (Castagnoli), and the
 * masked form records carry (TensorFlow's crc32c::Mask). */
uint32_t cli_tb_crc32c(const void *data, size_t n);
uint32_t cli_tb_masked_crc32c(const void *data, size_t n);

#endif
