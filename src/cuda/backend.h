/* backend.h: the CUDA backend as the rest of the library sees it (compiled only with CUDA=1, see
 * src/cuda/README.md). src/engine/session.c delegates a session to these functions when it runs on the GPU. */
#ifndef GPTOSS_CUDA_BACKEND_H
#define GPTOSS_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "gptoss.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gptoss_model;
typedef struct gptoss_cuda_session gptoss_cuda_session;

/* Uploads the model's weights on first use (once per model, thread-safe), then allocates the KV
 * cache and the activations of an n_ctx-token session fed in chunks of up to n_batch tokens. */
gptoss_status gptoss_cuda_session_create(const struct gptoss_model *model, uint32_t n_ctx, uint32_t n_batch,
                                         gptoss_cuda_session **out, char *err, size_t err_size);
/* Runs n_ids tokens (the caller checked ids and context room); all_logits as gptoss_session_append. */
gptoss_status gptoss_cuda_session_append(gptoss_cuda_session *s, const uint32_t *ids, size_t n_ids, float *all_logits,
                                         char *err, size_t err_size);
const float *gptoss_cuda_session_logits(const gptoss_cuda_session *s);
void gptoss_cuda_session_reset(gptoss_cuda_session *s);
void gptoss_cuda_session_free(gptoss_cuda_session *s);

/* bench --synth: a model whose full-size random weights are generated directly on the device
 * (preset as gptoss_synth_preset; nothing large is ever on the host). */
gptoss_status gptoss_cuda_synth_model(int preset, uint64_t seed, struct gptoss_model **out, char *err,
                                      size_t err_size);
/* Device name, bytes in use now (cudaMemGetInfo total - free), the peak seen by the backend's
 * sampling points, and the total. Returns 0 without a device. */
int gptoss_cuda_memory(char *name, size_t name_size, size_t *used, size_t *peak, size_t *total);
/* Device-to-device copy bandwidth in GB/s (read + write bytes per second) over `bytes`. */
double gptoss_cuda_copy_bandwidth(size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
