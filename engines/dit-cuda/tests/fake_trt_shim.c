/* A stand-in for the TensorRT shim, for tests without TensorRT: implements worldflow_trt_shim.h with
 * canned answers. FAKE_ABI sets the reported ABI version; FAKE_FAIL_CREATE makes plan creation fail with
 * a message; FAKE_PARTIAL leaves out every entry but the version. */
#include "worldflow_trt_shim.h"
#include <stdlib.h>
#include <string.h>

#ifndef FAKE_ABI
#define FAKE_ABI WF_TRT_ABI_VERSION
#endif

static void put(char *err, size_t n, const char *msg) {
    if (err && n) {
        strncpy(err, msg, n - 1);
        err[n - 1] = 0;
    }
}

uint32_t wf_trt_abi_version(void) { return FAKE_ABI; }

#ifndef FAKE_PARTIAL
typedef struct { int64_t batch; } fake_plan;

void *wf_trt_plan_create(const void *plan, size_t plan_bytes, char *err, size_t err_bytes) {
#ifdef FAKE_FAIL_CREATE
    (void)plan; (void)plan_bytes;
    put(err, err_bytes, "deserializeCudaEngine failed: fake shim has no TensorRT");
    return NULL;
#else
    (void)err; (void)err_bytes;
    if (plan_bytes < 4 || memcmp(plan, "FAKE", 4) != 0) return NULL;
    fake_plan *p = malloc(sizeof *p);
    p->batch = -1;
    return p;
#endif
}

void wf_trt_plan_destroy(void *plan) { free(plan); }

int32_t wf_trt_plan_num_io(const void *plan) { return plan ? 2 : 0; }

int32_t wf_trt_plan_io(const void *plan, int32_t index, const char **name, int32_t *is_input, int32_t *dtype,
                       int32_t *nb_dims, int64_t *dims, char *err, size_t err_bytes) {
    (void)plan;
    if (index == 0) {
        *name = "latents"; *is_input = 1; *dtype = 0; *nb_dims = 4;
        dims[0] = -1; dims[1] = 16; dims[2] = 8; dims[3] = 8;
        return 0;
    }
    if (index == 1) {
        *name = "velocity"; *is_input = 0; *dtype = 1; *nb_dims = 2;
        dims[0] = -1; dims[1] = 1024;
        return 0;
    }
    put(err, err_bytes, "I/O tensor index out of range");
    return 1;
}

int32_t wf_trt_plan_set_input_shape(void *plan, const char *name, int32_t nb_dims, const int64_t *dims, char *err,
                                    size_t err_bytes) {
    if (strcmp(name, "latents") != 0 || nb_dims != 4) {
        put(err, err_bytes, "setInputShape: unknown input or wrong rank");
        return 1;
    }
    ((fake_plan *)plan)->batch = dims[0];
    return 0;
}

int32_t wf_trt_plan_context_shape(const void *plan, const char *name, int32_t *nb_dims, int64_t *dims, char *err,
                                  size_t err_bytes) {
    int64_t b = ((const fake_plan *)plan)->batch;
    if (strcmp(name, "latents") == 0) {
        *nb_dims = 4; dims[0] = b; dims[1] = 16; dims[2] = 8; dims[3] = 8;
        return 0;
    }
    if (strcmp(name, "velocity") == 0) {
        *nb_dims = 2; dims[0] = b; dims[1] = 1024;
        return 0;
    }
    put(err, err_bytes, "getTensorShape: no such tensor");
    return 1;
}

int32_t wf_trt_plan_set_address(void *plan, const char *name, uint64_t device_ptr, char *err, size_t err_bytes) {
    (void)plan; (void)name; (void)device_ptr;
    put(err, err_bytes, "fake shim cannot bind device memory");
    return 1;
}

int32_t wf_trt_plan_enqueue(void *plan, uint64_t stream, char *err, size_t err_bytes) {
    (void)plan; (void)stream;
    put(err, err_bytes, "fake shim cannot run");
    return 1;
}
#endif
