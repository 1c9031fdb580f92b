#include "report.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static bool add_recall(cJSON *parent, const char *name, const vc_recall *rc) {
    cJSON *o = cJSON_AddObjectToObject(parent, name);
    return o && cJSON_AddNumberToObject(o, "R@1", rc->r1) && cJSON_AddNumberToObject(o, "R@5", rc->r5) &&
           cJSON_AddNumberToObject(o, "R@10", rc->r10) && cJSON_AddNumberToObject(o, "MdR", rc->mdr) &&
           cJSON_AddNumberToObject(o, "MnR", rc->mnr);
}

vc_status vc_eval_to_json(const vc_eval_result *r, cJSON **out) {
    if (!r || !out) return vc_fail(VC_ERR_ARG, "report: NULL result or output");
    *out = NULL;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && add_recall(o, "t2v", &r->t2v) && add_recall(o, "v2t", &r->v2t) &&
              cJSON_AddNumberToObject(o, "videos", (double)r->videos) &&
              cJSON_AddNumberToObject(o, "captions", (double)r->captions);
    if (ok && r->has_cls)
        ok = cJSON_AddNumberToObject(o, "top1", r->top1) && cJSON_AddNumberToObject(o, "top5", r->top5);
    if (!ok) {
        cJSON_Delete(o);
        return vc_fail(VC_ERR_OOM, "report: cannot build the evaluation JSON");
    }
    *out = o;
    return VC_OK;
}

vc_status vc_eval_json_format(const vc_eval_result *r, bool pretty, char *buf, size_t n) {
    if (!buf || n == 0) return vc_fail(VC_ERR_ARG, "report: bad JSON buffer");
    cJSON *o;
    vc_status st = vc_eval_to_json(r, &o);
    if (st != VC_OK) return st;
    /* cJSON may need a few bytes of slack beyond the final text. */
    bool ok = cJSON_PrintPreallocated(o, buf, n > INT_MAX ? INT_MAX : (int)n, pretty);
    cJSON_Delete(o);
    if (!ok) {
        buf[0] = '\0';
        return vc_fail(VC_ERR_ARG, "report: evaluation JSON does not fit in %zu bytes", n);
    }
    return VC_OK;
}

vc_status vc_eval_json_write(const vc_eval_result *r, bool pretty, FILE *f) {
    if (!f) return vc_fail(VC_ERR_ARG, "report: NULL FILE");
    cJSON *o;
    vc_status st = vc_eval_to_json(r, &o);
    if (st != VC_OK) return st;
    char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return vc_fail(VC_ERR_OOM, "report: cannot format the evaluation JSON");
    bool ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    cJSON_free(s);
    if (!ok || ferror(f)) return vc_fail(VC_ERR_IO, "report: cannot write the evaluation JSON");
    return VC_OK;
}

vc_status vc_eval_table_write(const vc_eval_result *r, const char *title, FILE *f) {
    if (!r || !f) return vc_fail(VC_ERR_ARG, "report: NULL result or FILE");
    const vc_recall *t = &r->t2v, *v = &r->v2t;
    if (title && *title) fprintf(f, "%s\n", title);
    fprintf(f, "  %-8s %12s %12s\n", "", "text->video", "video->text");
    fprintf(f, "  %-8s %12.2f %12.2f\n", "R@1", t->r1, v->r1);
    fprintf(f, "  %-8s %12.2f %12.2f\n", "R@5", t->r5, v->r5);
    fprintf(f, "  %-8s %12.2f %12.2f\n", "R@10", t->r10, v->r10);
    fprintf(f, "  %-8s %12.1f %12.1f\n", "MdR", t->mdr, v->mdr);
    fprintf(f, "  %-8s %12.2f %12.2f\n", "MnR", t->mnr, v->mnr);
    fprintf(f, "  %-8s %12lld %12lld\n", "queries", (long long)t->queries, (long long)v->queries);
    fprintf(f, "  %lld videos, %lld captions (recalls in %%, ranks 1-based, ties with wrong candidates count against the model)\n",
            (long long)r->videos, (long long)r->captions);
    if (r->v2t_excluded > 0)
        fprintf(f, "  note: %lld %s\n", (long long)r->v2t_excluded,
                r->v2t_excluded == 1 ? "video without captions is not a video->text query"
                                     : "videos without captions are not video->text queries");
    if (r->nan_scores > 0)
        fprintf(f, "  warning: %lld NaN similarity scores, counted against the model\n", (long long)r->nan_scores);
    if (r->has_cls) {
        fprintf(f, "  zero-shot classification (%lld videos, %lld classes): top-1 %.2f  top-5 %.2f\n",
                (long long)r->cls_videos, (long long)r->cls_classes, r->top1, r->top5);
        if (r->cls_nan_scores > 0)
            fprintf(f, "  warning: %lld NaN class scores, counted against the model\n",
                    (long long)r->cls_nan_scores);
    }
    if (ferror(f)) return vc_fail(VC_ERR_IO, "report: cannot write the evaluation table");
    return VC_OK;
}
