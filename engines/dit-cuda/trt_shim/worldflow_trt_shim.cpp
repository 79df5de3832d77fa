// The worldflow TensorRT shim: TensorRT's C++ runtime API (IRuntime, ICudaEngine, IExecutionContext,
// TensorRT 10 name-based I/O) behind the C ABI of worldflow_trt_shim.h. Build: build.sh in this folder.
#include "worldflow_trt_shim.h"

#include <NvInferRuntime.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

namespace {

void put_err(char *err, size_t err_bytes, const std::string &msg) {
    if (err == nullptr || err_bytes == 0) return;
    size_t n = msg.size() < err_bytes - 1 ? msg.size() : err_bytes - 1;
    std::memcpy(err, msg.data(), n);
    err[n] = '\0';
}

// Keeps the last error-level message of TensorRT so that a failed call can say why.
class Logger : public nvinfer1::ILogger {
  public:
    void log(Severity severity, nvinfer1::AsciiChar const *msg) noexcept override {
        if (severity <= Severity::kERROR && msg != nullptr) {
            std::lock_guard<std::mutex> lock(mu_);
            last_ = msg;
        }
    }
    std::string take() {
        std::lock_guard<std::mutex> lock(mu_);
        std::string s = last_.empty() ? std::string("no message from TensorRT") : last_;
        last_.clear();
        return s;
    }

  private:
    std::mutex mu_;
    std::string last_;
};

struct Plan {
    Logger logger;
    std::unique_ptr<nvinfer1::IRuntime> runtime;
    std::unique_ptr<nvinfer1::ICudaEngine> engine;
    std::unique_ptr<nvinfer1::IExecutionContext> context;
};

bool fill_dims(const nvinfer1::Dims &d, int32_t *nb_dims, int64_t *dims) {
    if (d.nbDims < 0 || d.nbDims > WF_TRT_MAX_DIMS) return false;
    *nb_dims = d.nbDims;
    for (int i = 0; i < d.nbDims; ++i) dims[i] = static_cast<int64_t>(d.d[i]);
    return true;
}

int32_t fail(Plan *p, char *err, size_t err_bytes, const std::string &what) {
    put_err(err, err_bytes, what + ": " + (p != nullptr ? p->logger.take() : std::string("null plan")));
    return 1;
}

}  // namespace

extern "C" uint32_t wf_trt_abi_version(void) { return WF_TRT_ABI_VERSION; }

extern "C" void *wf_trt_plan_create(const void *plan, size_t plan_bytes, char *err, size_t err_bytes) {
    try {
        auto p = std::make_unique<Plan>();
        p->runtime.reset(nvinfer1::createInferRuntime(p->logger));
        if (!p->runtime) {
            fail(p.get(), err, err_bytes, "createInferRuntime failed");
            return nullptr;
        }
        p->engine.reset(p->runtime->deserializeCudaEngine(plan, plan_bytes));
        if (!p->engine) {
            fail(p.get(), err, err_bytes, "deserializeCudaEngine failed (a plan of another TensorRT version or GPU?)");
            return nullptr;
        }
        p->context.reset(p->engine->createExecutionContext());
        if (!p->context) {
            fail(p.get(), err, err_bytes, "createExecutionContext failed");
            return nullptr;
        }
        return p.release();
    } catch (const std::exception &e) {
        put_err(err, err_bytes, std::string("exception: ") + e.what());
    } catch (...) {
        put_err(err, err_bytes, "unknown exception");
    }
    return nullptr;
}

extern "C" void wf_trt_plan_destroy(void *plan) {
    // Members are released in reverse order: context, engine, runtime.
    delete static_cast<Plan *>(plan);
}

extern "C" int32_t wf_trt_plan_num_io(const void *plan) {
    if (plan == nullptr) return 0;
    return static_cast<const Plan *>(plan)->engine->getNbIOTensors();
}

extern "C" int32_t wf_trt_plan_io(const void *plan, int32_t index, const char **name, int32_t *is_input,
                                  int32_t *dtype, int32_t *nb_dims, int64_t *dims, char *err, size_t err_bytes) {
    auto *p = const_cast<Plan *>(static_cast<const Plan *>(plan));
    if (p == nullptr || index < 0 || index >= p->engine->getNbIOTensors()) {
        put_err(err, err_bytes, "I/O tensor index out of range");
        return 1;
    }
    const char *n = p->engine->getIOTensorName(index);
    if (n == nullptr) return fail(p, err, err_bytes, "getIOTensorName failed");
    *name = n;
    *is_input = p->engine->getTensorIOMode(n) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0;
    *dtype = static_cast<int32_t>(p->engine->getTensorDataType(n));
    if (!fill_dims(p->engine->getTensorShape(n), nb_dims, dims)) return fail(p, err, err_bytes, std::string("bad shape of ") + n);
    return 0;
}

extern "C" int32_t wf_trt_plan_set_input_shape(void *plan, const char *name, int32_t nb_dims, const int64_t *dims,
                                               char *err, size_t err_bytes) {
    auto *p = static_cast<Plan *>(plan);
    if (p == nullptr || nb_dims < 0 || nb_dims > WF_TRT_MAX_DIMS) {
        put_err(err, err_bytes, "bad plan or number of dimensions");
        return 1;
    }
    nvinfer1::Dims d{};
    d.nbDims = nb_dims;
    for (int i = 0; i < nb_dims; ++i) d.d[i] = dims[i];
    if (!p->context->setInputShape(name, d)) return fail(p, err, err_bytes, std::string("setInputShape(") + name + ")");
    return 0;
}

extern "C" int32_t wf_trt_plan_context_shape(const void *plan, const char *name, int32_t *nb_dims, int64_t *dims,
                                             char *err, size_t err_bytes) {
    auto *p = const_cast<Plan *>(static_cast<const Plan *>(plan));
    if (p == nullptr) {
        put_err(err, err_bytes, "null plan");
        return 1;
    }
    if (!fill_dims(p->context->getTensorShape(name), nb_dims, dims))
        return fail(p, err, err_bytes, std::string("getTensorShape(") + name + ")");
    return 0;
}

extern "C" int32_t wf_trt_plan_set_address(void *plan, const char *name, uint64_t device_ptr, char *err,
                                           size_t err_bytes) {
    auto *p = static_cast<Plan *>(plan);
    if (p == nullptr) {
        put_err(err, err_bytes, "null plan");
        return 1;
    }
    if (!p->context->setTensorAddress(name, reinterpret_cast<void *>(device_ptr)))
        return fail(p, err, err_bytes, std::string("setTensorAddress(") + name + ")");
    return 0;
}

extern "C" int32_t wf_trt_plan_enqueue(void *plan, uint64_t stream, char *err, size_t err_bytes) {
    auto *p = static_cast<Plan *>(plan);
    if (p == nullptr) {
        put_err(err, err_bytes, "null plan");
        return 1;
    }
    if (!p->context->enqueueV3(reinterpret_cast<cudaStream_t>(stream))) return fail(p, err, err_bytes, "enqueueV3");
    return 0;
}
