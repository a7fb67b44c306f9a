/* load.c: gptoss_model_load, the public way to open a model. It settles the device the model's
 * sessions will run on before the model layer opens the checkpoint, because finding a GPU belongs to
 * the CUDA backend, which sits above the model; and it answers gptoss_cuda_available in a build
 * without that backend. */
#include "dist/dist.h"
#include "engine/session.h"

gptoss_status gptoss_model_load(const char *path, const gptoss_model_options *options, gptoss_model **out,
                                char *err, size_t err_size) {
    gptoss_model_options o = {0};
    if (options) o = *options;
    if (gptoss_comm_size(gptoss_comm_world()) > 1) {
        if (out) *out = NULL;
        if (!path || !out) return gptoss_fail(GPTOSS_ERR_INVALID_ARGUMENT, err, err_size, "no model path given");
        return gptoss_dist_model_open(path, &o, out, err, err_size);
    }
    /* Only the load-time conversion looks at the device, and --exact does none: no GPU probe then. */
    if (o.device == GPTOSS_DEVICE_AUTO && !o.exact)
        o.device = gptoss_cuda_available() ? GPTOSS_DEVICE_CUDA : GPTOSS_DEVICE_CPU;
    return gptoss_model_open(path, &o, out, err, err_size);
}

#ifndef GPTOSS_CUDA
int gptoss_cuda_available(void) { return 0; }
#endif
