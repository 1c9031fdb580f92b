/* zeroshot.h: class embeddings by CLIP's zero-shot recipe: each class name put into every
 * prompt template, each prompt's text embedding L2-normalised, the T of them averaged and
 * the average normalised again (so class embeddings are unit length).
 * Owns: the default templates, reading a templates file, filling "{}" with a name, the
 * averaging with its normalisations, and the class embeddings of a list of names.
 * Not here: strings to text embeddings (text_embed.h), reading names from and writing
 * embeddings to a file (tools/cmd_encode.c, data/). */
#ifndef VC_ZEROSHOT_H
#define VC_ZEROSHOT_H

#include <stdint.h>

#include "models/clip.h"
#include "models/tokenizer.h"
#include "tensor/progress.h"

/* "a video of {}.", "a video of a person {}.", "a video of a person doing {}.",
 * "a photo of {}.", "an example of {}." */
extern const char *const vc_zeroshot_default_templates[];
extern const int64_t vc_zeroshot_n_default_templates;

/* The templates of a file, one per line with "{}" where the name goes (blank lines and
 * lines starting with '#' are skipped; a line without "{}" is an error naming it), or, for
 * path NULL, copies of the defaults. *out: n malloc'd strings (vc_zeroshot_templates_free). */
vc_status vc_zeroshot_templates_read(const char *path, char ***out, int64_t *n);
void vc_zeroshot_templates_free(char **templates, int64_t n);

/* tmpl with every "{}" replaced by name, malloc'd into *out. */
vc_status vc_zeroshot_fill(const char *tmpl, const char *name, char **out);

/* prompts [T, E] raw text embeddings -> out [E]: each row L2-normalised, the mean of the
 * rows, L2-normalised (a zero row or mean stays zero). */
void vc_zeroshot_average(const float *prompts, int64_t T, int64_t E, float *out);

/* names [K] -> out [K, E] (E = m->cfg.embed): each class's T prompts encoded in one batch
 * and averaged by vc_zeroshot_average. The tape is reset for each class. progress (may be
 * NULL) hears "class names encoded", done of K, after each class. */
vc_status vc_zeroshot_classes(vc_tape *t, const vc_clip *m, vc_tokenizer *tk, const char *const *names, int64_t K,
                              const char *const *templates, int64_t T, float *out, const vc_progress_hook *progress);

#endif
