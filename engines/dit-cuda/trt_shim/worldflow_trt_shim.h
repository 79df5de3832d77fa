/* C ABI of the worldflow TensorRT shim (engines/dit-cuda/trt_shim). The Rust side (src/trt.rs) opens the
 * shared library at run time and checks wf_trt_abi_version() == WF_TRT_ABI_VERSION before anything else.
 * Every call that can fail returns 0 on success and non-zero on failure, with a NUL-terminated message
 * written to err (at most err_bytes bytes, truncated). No C++ exception crosses this boundary. */
#ifndef WORLDFLOW_TRT_SHIM_H
#define WORLDFLOW_TRT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define WF_TRT_ABI_VERSION 1u
#define WF_TRT_MAX_DIMS 8

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this shim implements. */
uint32_t wf_trt_abi_version(void);

/* Deserializes an engine plan (the bytes of a .plan / .engine file built by TensorRT of the same version)
 * and creates its execution context, on the CUDA context current on the calling thread. NULL on failure. */
void *wf_trt_plan_create(const void *plan, size_t plan_bytes, char *err, size_t err_bytes);

void wf_trt_plan_destroy(void *plan);

/* Number of I/O tensors. */
int32_t wf_trt_plan_num_io(const void *plan);

/* I/O tensor `index`: its name (valid until destroy), 1 for an input / 0 for an output, its data type
 * (nvinfer1::DataType value), and its engine shape (nb_dims, dims[WF_TRT_MAX_DIMS]; -1 = dynamic). */
int32_t wf_trt_plan_io(const void *plan, int32_t index, const char **name, int32_t *is_input, int32_t *dtype,
                       int32_t *nb_dims, int64_t *dims, char *err, size_t err_bytes);

/* Sets the shape of a dynamic input. */
int32_t wf_trt_plan_set_input_shape(void *plan, const char *name, int32_t nb_dims, const int64_t *dims, char *err,
                                    size_t err_bytes);

/* The shape of a tensor as resolved by the execution context (after every dynamic input shape is set). */
int32_t wf_trt_plan_context_shape(const void *plan, const char *name, int32_t *nb_dims, int64_t *dims, char *err,
                                  size_t err_bytes);

/* Binds a tensor to a device address. */
int32_t wf_trt_plan_set_address(void *plan, const char *name, uint64_t device_ptr, char *err, size_t err_bytes);

/* Enqueues one inference on `stream` (a cudaStream_t / CUstream as an integer); does not synchronize. */
int32_t wf_trt_plan_enqueue(void *plan, uint64_t stream, char *err, size_t err_bytes);

#ifdef __cplusplus
}
#endif

#endif
