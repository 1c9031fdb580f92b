/* text_embed.h: strings to raw CLIP text embeddings, the glue of the tokenizer and the text
 * tower that encode-video, encode-text, search and the zero-shot recipe share.
 * Owns: tokenizing a batch of strings into one [n, context] id tensor, running the text
 * tower on it and copying the embeddings out.
 * Not here: the tokenizer (tokenizer.h), the tower (clip.h), normalisation (callers
 * L2-normalise when they need to: caption embeddings in files stay raw). */
#ifndef VC_TEXT_EMBED_H
#define VC_TEXT_EMBED_H

#include <stdint.h>

#include "models/clip.h"
#include "models/tokenizer.h"

/* texts[n] -> out [n, E] raw text embeddings (E = m->cfg.embed). ids: scratch of
 * n * m->cfg.context int32. The tape is reset first (the tower's workspace comes from it). */
vc_status vc_clip_embed_texts(vc_tape *t, const vc_clip *m, vc_tokenizer *tk, const char *const *texts, int64_t n,
                              int32_t *ids, float *out);

#endif
