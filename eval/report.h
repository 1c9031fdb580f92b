/* report.h: the evaluation numbers as JSON and as a table for people.
 * It owns the JSON shape of an evaluation,
 *   {"t2v": {"R@1": .., "R@5": .., "R@10": .., "MdR": .., "MnR": ..},
 *    "v2t": {...}, "videos": N, "captions": M}
 * plus "top1"/"top5" when classification was evaluated (recalls and
 * accuracies in percent, full double precision), and the table layout. It
 * does not compute anything (eval/metrics.h) and never prints on its own:
 * output goes to a buffer or a FILE* the caller passes. */
#ifndef VC_EVAL_REPORT_H
#define VC_EVAL_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cJSON.h>

#include "eval/metrics.h"
#include "tensor/status.h"

/* A new cJSON object of that shape in *out; the caller frees it with
 * cJSON_Delete (or attaches it to a larger object, e.g. a log line). */
vc_status vc_eval_to_json(const vc_eval_result *r, cJSON **out);

/* The JSON text, NUL-terminated, in buf[0, n); pretty indents it. Fails with
 * VC_ERR_ARG when it does not fit (a few hundred bytes always do). */
vc_status vc_eval_json_format(const vc_eval_result *r, bool pretty, char *buf, size_t n);

/* The JSON text and a newline written to f. */
vc_status vc_eval_json_write(const vc_eval_result *r, bool pretty, FILE *f);

/* Both retrieval directions side by side, the query counts, notes on videos
 * without captions and NaN scores, and the classification line if any.
 * title (may be NULL) is printed above the table. */
vc_status vc_eval_table_write(const vc_eval_result *r, const char *title, FILE *f);

#endif
