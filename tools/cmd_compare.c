/* vclip compare A.json B.json ...: eval results (vclip eval --json) side by side. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) break;
            buf = nb;
        }
        size_t k = fread(buf + n, 1, cap - n - 1, f);
        n += k;
        if (k == 0) break;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

static double num(const cJSON *o, const char *a, const char *b, int *ok) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    if (!cJSON_IsNumber(x)) {
        *ok = 0;
        return 0;
    }
    return x->valuedouble;
}

int vc_cmd_compare(int argc, char **argv) {
    int n = argc - 1;
    if (n < 1 || n > 16) return vc_cmd_error("compare", "%s", vc_cmd_usage("compare"));
    cJSON *docs[16] = {0};
    char names[16][32];
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const char *p = argv[i + 1];
        char *text = slurp(p);
        if (!text) {
            rc = vc_cmd_error("compare", "%s: cannot read", p);
            break;
        }
        docs[i] = cJSON_Parse(text);
        free(text);
        if (!docs[i] || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(docs[i], "t2v"))) {
            rc = vc_cmd_error("compare", "%s: not a vclip eval result (expected JSON with t2v and v2t)", p);
            break;
        }
        const char *base = strrchr(p, '/');
        base = base ? base + 1 : p;
        snprintf(names[i], sizeof names[i], "%s", base);
        char *dot = strrchr(names[i], '.');
        if (dot && strcmp(dot, ".json") == 0) *dot = '\0';
    }
    if (!rc) {
        static const char *dirs[2] = {"t2v", "v2t"}, *keys[5] = {"R@1", "R@5", "R@10", "MdR", "MnR"};
        printf("%-12s", "");
        for (int i = 0; i < n; i++) printf(" %14s", names[i]);
        printf("\n");
        for (int d = 0; d < 2 && !rc; d++)
            for (int k = 0; k < 5 && !rc; k++) {
                printf("%s %-8s", dirs[d], keys[k]);
                for (int i = 0; i < n; i++) {
                    int ok = 1;
                    double v = num(docs[i], dirs[d], keys[k], &ok);
                    if (!ok) {
                        printf("\n");
                        rc = vc_cmd_error("compare", "%s: missing %s.%s", argv[i + 1], dirs[d], keys[k]);
                        break;
                    }
                    printf(" %14.2f", v);
                }
                if (!rc) printf("\n");
            }
        for (int k = 0; k < 2 && !rc; k++) {
            const char *key = k ? "top5" : "top1";
            int any = 0;
            for (int i = 0; i < n; i++) any |= cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(docs[i], key));
            if (!any) continue;
            printf("zero-shot %-2s", k ? "5" : "1");
            for (int i = 0; i < n; i++) {
                int ok = 1;
                double v = num(docs[i], key, NULL, &ok);
                if (ok) printf(" %14.2f", v);
                else printf(" %14s", "-");
            }
            printf("\n");
        }
    }
    for (int i = 0; i < n; i++) cJSON_Delete(docs[i]);
    return rc;
}
