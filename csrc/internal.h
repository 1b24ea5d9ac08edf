// internal.h — what every csrc translation unit shares: the handle structs,
// the one catch-all (NM_PROTECT), argument checks and dtype/device mapping.
// Never included by Go; the C ABI is include/nashmd.h.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

#include <c10/core/GradMode.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "nashmd.h"

// NASHMD_TORCH2 guards libtorch 2.x-only APIs (scaled_dot_product_attention).
#if TORCH_VERSION_MAJOR >= 2
#define NASHMD_TORCH2 1
#else
#define NASHMD_TORCH2 0
#endif

// NASHMD_CUDA is 1 only in the CUDA build (make cuda: CMake -DNASHMD_CUDA=ON
// defines it); it guards the calls into the CUDA kernels and the CUDA-graph
// decode. The CPU build never sees that code.
#ifndef NASHMD_CUDA
#define NASHMD_CUDA 0
#endif

// ---- handles ----------------------------------------------------------------

namespace nm {
// Live nm_tensor handles, process-wide (nm_rt_live_tensors).
extern std::atomic<int64_t> live_tensors;
} // namespace nm

struct nm_error {
  int code;
  std::string msg;
};

struct nm_tensor {
  at::Tensor t;
  explicit nm_tensor(at::Tensor x) : t(std::move(x)) { nm::live_tensors++; }
  ~nm_tensor() { nm::live_tensors--; }
  nm_tensor(const nm_tensor &) = delete;
  nm_tensor &operator=(const nm_tensor &) = delete;
};

struct nm_generator {
  at::Generator g;
};

namespace nm {

// ---- errors -------------------------------------------------------------------

// Error is thrown by nashmd's own checks with a precise code.
struct Error : std::runtime_error {
  int code;
  Error(int c, const std::string &m) : std::runtime_error(m), code(c) {}
};

[[noreturn]] inline void fail(int code, const std::string &msg) { throw Error(code, msg); }

nm_error *make_error(int code, const char *msg);

// classify maps a libtorch message that came without a typed exception to a
// code. Best effort: libtorch raises most shape and dtype errors as plain
// c10::Error, so the message decides; anything unrecognised is NM_ERR_TORCH.
int classify(const std::string &msg);

// protect runs f and turns any exception into an nm_error*. It is the single
// catch-all behind NM_PROTECT; every exported function goes through it.
template <class F> nm_error *protect(F &&f) noexcept {
  try {
    f();
    return nullptr;
  } catch (const Error &e) {
    return make_error(e.code, e.what());
  } catch (const c10::OutOfMemoryError &e) {
    return make_error(NM_ERR_OOM, e.what_without_backtrace());
  } catch (const c10::IndexError &e) {
    return make_error(NM_ERR_SHAPE, e.what_without_backtrace());
  } catch (const c10::TypeError &e) {
    return make_error(NM_ERR_DTYPE, e.what_without_backtrace());
  } catch (const c10::Error &e) {
    std::string m = e.what_without_backtrace();
    return make_error(classify(m), m.c_str());
  } catch (const std::bad_alloc &e) {
    return make_error(NM_ERR_OOM, e.what());
  } catch (const std::exception &e) {
    return make_error(NM_ERR_INTERNAL, e.what());
  } catch (...) {
    return make_error(NM_ERR_INTERNAL, "unknown C++ exception");
  }
}

// ---- argument helpers -------------------------------------------------------------

inline const at::Tensor &T(const nm_tensor *t, const char *name = "tensor") {
  if (t == nullptr) fail(NM_ERR_ARG, std::string(name) + " is NULL");
  return t->t;
}

template <class P> inline void need_out(P *out) {
  if (out == nullptr) fail(NM_ERR_ARG, "out-parameter is NULL");
}

// give wraps a tensor in a new handle and stores it in *out.
inline void give(nm_tensor **out, at::Tensor x) { *out = new nm_tensor(std::move(x)); }

// ParamTable names a model's weights by their checkpoint names; the C
// functions nm_*_param, nm_*_set_param of every model go through it.
struct ParamTable {
  struct Param {
    std::string name;
    at::Tensor *slot;
  };
  std::vector<Param> params;
  std::unordered_map<std::string, size_t> index;

  // make allocates the named parameter as zeros of shape and options o.
  void make(const std::string &name, at::Tensor *slot, at::IntArrayRef shape,
            const at::TensorOptions &o) {
    *slot = at::zeros(shape, o);
    index[name] = params.size();
    params.push_back({name, slot});
  }
  const Param &param(int64_t i) const {
    if (i < 0 || i >= static_cast<int64_t>(params.size()))
      fail(NM_ERR_ARG, "parameter index " + std::to_string(i) + " out of range");
    return params[static_cast<size_t>(i)];
  }
  // set copies value (same shape, any dtype/device) into the named parameter.
  void set(const char *name, const at::Tensor &value) {
    if (name == nullptr) fail(NM_ERR_ARG, "name is NULL");
    auto it = index.find(name);
    if (it == index.end()) fail(NM_ERR_ARG, std::string("unexpected parameter \"") + name + "\"");
    at::Tensor &dst = *params[it->second].slot;
    if (value.sizes() != dst.sizes())
      fail(NM_ERR_SHAPE, std::string("parameter \"") + name + "\": checkpoint shape " +
                             c10::str(value.sizes()) + ", model expects " + c10::str(dst.sizes()));
    c10::NoGradGuard g;
    dst.copy_(value);
  }
};

at::ScalarType scalar_type(int32_t dtype);
int32_t nm_dtype_of(at::ScalarType st);
at::Device device_of(nm_device d);
at::IntArrayRef shape_of(const int64_t *shape, int32_t ndim);

} // namespace nm

// NM_PROTECT({ body }) is the body of every exported function.
#define NM_PROTECT(...) return ::nm::protect([&]() __VA_ARGS__)
