// dist.cpp — data parallelism over c10d, PyTorch's own distributed engine:
// a TCPStore rendezvous, ProcessGroupGloo (CPU) or ProcessGroupNCCL (CUDA
// builds), bucketed collectives, and naming the rank that was lost.
//
// Rendezvous: rank 0 hosts a TCPStore at master_addr:master_port (unless a
// launcher's agent hosts it: torchrun's TORCHELASTIC_USE_AGENT_STORE, then
// every rank is a client under store_prefix); every rank connects and the
// process group exchanges its addresses through it.
//
// Buckets: like DistributedDataParallel, tensors are flattened into buckets
// of at most bucket_bytes (25 MB by default), one collective per bucket,
// then copied back. A bucket holds tensors of one dtype and device.
//
// Lost ranks: every rank runs a heartbeat thread that writes
// "nashmd/hb/<rank>" = "<beat> <seq>" into the store every heartbeat_ms
// through its own store connection (seq counts the collectives the rank has
// entered). When a collective fails (a peer closed its connection, or the
// timeout passed), the failing rank reads every heartbeat twice,
// 2.5 heartbeats apart: a rank whose beat did not move is lost (dead or
// frozen); else a rank whose seq is behind never reached this collective
// (hung or slow). If the store itself is gone, the rank hosting it (0) is.
// The diagnosis runs under a time limit so that a frozen store cannot hold
// the error back.
//
// After a failed collective the group is broken: nm_dist_free then stops
// the heartbeat and leaks the process group on purpose, since its threads
// may still wait on a dead peer and the process is about to exit.
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if NASHMD_CUDA
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "internal.h"

// libtorch 2.x splits ProcessGroup into a front and per-device Backends;
// ProcessGroupGloo/NCCL are Backends there, ProcessGroups in 1.13. Both
// declare the same collectives.
#if NASHMD_TORCH2
using PGBase = c10d::Backend;
#else
using PGBase = c10d::ProcessGroup;
#endif

using ms = std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

struct nm_dist {
  int rank = 0, world = 1;
  int32_t backend = NM_DIST_GLOO;
  at::Device device = at::kCPU;
  ms timeout{0}, heartbeat{0};
  std::string where; // "host:port" of the store, for messages
  bool store_on_rank0 = true;
  c10::intrusive_ptr<c10d::Store> store; // rendezvous (and diagnosis)
  c10::intrusive_ptr<PGBase> pg;
  bool broken = false;

  // heartbeat
  c10::intrusive_ptr<c10d::Store> hb_store; // its own connection
  std::atomic<int64_t> seq{0};
  std::thread hb_thread;
  std::mutex hb_mu;
  std::condition_variable hb_cv;
  bool hb_stop = false;
};

namespace nm {

static std::string hb_key(int r) { return "nashmd/hb/" + std::to_string(r); }

static std::vector<uint8_t> bytes_of(const std::string &s) { return {s.begin(), s.end()}; }

// The heartbeat thread: publish "<beat> <seq>" every heartbeat until told to
// stop, or until the store is gone (then the diagnosis says so).
static void heartbeat_loop(nm_dist *d) {
  int64_t beat = 0;
  std::unique_lock<std::mutex> lk(d->hb_mu);
  while (!d->hb_stop) {
    lk.unlock();
    try {
      d->hb_store->set(hb_key(d->rank),
                       bytes_of(std::to_string(++beat) + " " + std::to_string(d->seq.load())));
    } catch (...) {
      return;
    }
    lk.lock();
    d->hb_cv.wait_for(lk, d->heartbeat, [d] { return d->hb_stop; });
  }
}

// Beat and seq of every rank (-1, -1 for this one).
using Beats = std::vector<std::pair<int64_t, int64_t>>;

static Beats read_beats(c10d::Store &store, int world, int self) {
  Beats out(static_cast<size_t>(world), {-1, -1});
  for (int r = 0; r < world; r++) {
    if (r == self) continue;
    std::vector<uint8_t> v = store.get(hb_key(r));
    std::istringstream in(std::string(v.begin(), v.end()));
    in >> out[static_cast<size_t>(r)].first >> out[static_cast<size_t>(r)].second;
  }
  return out;
}

// diagnose names the lost or lagging ranks after a failed collective, within
// a time limit. Runs on its own thread (detached if it overruns: a frozen
// store must not hold the error back).
static std::string diagnose(nm_dist *d, int64_t my_seq) {
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::string text;
  };
  auto sh = std::make_shared<Shared>();
  const ms pause = d->heartbeat * 5 / 2;
  auto store = d->store;
  const int world = d->world, self = d->rank;
  const bool rank0 = d->store_on_rank0;
  const std::string where = d->where;
  std::thread([=] {
    std::string text;
    try {
      Beats a = read_beats(*store, world, self);
      std::this_thread::sleep_for(pause);
      Beats b = read_beats(*store, world, self);
      std::vector<int> lost, behind;
      for (int r = 0; r < world; r++) {
        if (r == self) continue;
        if (b[static_cast<size_t>(r)].first == a[static_cast<size_t>(r)].first)
          lost.push_back(r);
        else if (b[static_cast<size_t>(r)].second < my_seq)
          behind.push_back(r);
      }
      std::ostringstream o;
      auto list = [&](const std::vector<int> &rs) {
        o << (rs.size() == 1 ? "rank " : "ranks ");
        for (size_t i = 0; i < rs.size(); i++)
          o << (i ? ", " : "") << rs[i];
      };
      if (!lost.empty()) {
        list(lost);
        o << (lost.size() == 1 ? " is" : " are") << " lost: no heartbeat for "
          << static_cast<double>(pause.count()) / 1000 << " s (the process died or is frozen)";
      } else if (!behind.empty()) {
        list(behind);
        o << " never reached collective #" << my_seq
          << " (alive, but stuck or slower than the timeout)";
      } else {
        o << "every other rank is alive and reached this collective";
      }
      text = o.str();
    } catch (const std::exception &e) {
      text = rank0 ? "rank 0 is lost: the rendezvous store it hosts at " + where + " is unreachable"
                   : "the rendezvous store at " + where + " is unreachable";
    }
    std::lock_guard<std::mutex> g(sh->mu);
    sh->text = text;
    sh->done = true;
    sh->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lk(sh->mu);
  const ms budget = pause + std::max(ms(2000), d->heartbeat * 2);
  if (!sh->cv.wait_for(lk, budget, [&] { return sh->done; }))
    return rank0 ? "rank 0 is lost or frozen: the rendezvous store it hosts at " + where +
                       " did not answer"
                 : "the rendezvous store at " + where + " did not answer";
  return sh->text;
}

// run performs one collective and waits for it; a failure marks the group
// broken and is rethrown as NM_ERR_DIST naming the lost rank.
template <class F> static void run(nm_dist *d, const char *op, F &&start) {
  if (d == nullptr) fail(NM_ERR_ARG, "process group is NULL");
  if (d->broken)
    fail(NM_ERR_DIST, std::string(op) + ": the process group is broken by an earlier error");
  const int64_t my_seq = ++d->seq;
  std::string what;
  try {
    c10::intrusive_ptr<c10d::Work> w = start();
    w->wait(d->timeout);
    return;
  } catch (const c10::Error &e) {
    what = e.what_without_backtrace();
  } catch (const std::exception &e) {
    what = e.what();
  }
  d->broken = true;
  std::string backend = d->backend == NM_DIST_NCCL ? "nccl" : "gloo";
  fail(NM_ERR_DIST, std::string(op) + " failed on rank " + std::to_string(d->rank) + " of " +
                        std::to_string(d->world) + ": " + diagnose(d, my_seq) + " [" + backend +
                        ": " + what + "]");
}

// Buckets of consecutive tensors with one dtype and device, at most cap
// bytes each (a tensor larger than cap gets a bucket of its own).
static std::vector<std::vector<at::Tensor>> buckets(const std::vector<at::Tensor> &ts,
                                                    int64_t cap) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (const at::Tensor &t : ts) {
    const int64_t n = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || out.back()[0].scalar_type() != t.scalar_type() ||
        out.back()[0].device() != t.device() || bytes + n > cap) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += n;
  }
  return out;
}

// each_bucket flattens every bucket into one buffer, applies op to it, and
// copies the result back into the tensors.
template <class F> static void each_bucket(const std::vector<at::Tensor> &ts, int64_t cap, F &&op) {
  c10::NoGradGuard ng;
  for (auto &b : buckets(ts, cap <= 0 ? (int64_t{25} << 20) : cap)) {
    std::vector<at::Tensor> flat;
    for (const at::Tensor &t : b)
      flat.push_back(t.detach().reshape({-1}));
    at::Tensor buf = flat.size() == 1 ? flat[0].clone() : at::cat(flat);
    op(buf);
    int64_t off = 0;
    for (const at::Tensor &t : b) {
      t.detach().copy_(buf.narrow(0, off, t.numel()).view(t.sizes()));
      off += t.numel();
    }
  }
}

static c10d::ReduceOp reduce_op(int32_t op) {
  switch (op) {
  case NM_DIST_SUM:
  case NM_DIST_AVG: return c10d::ReduceOp::SUM; // AVG: SUM, then divided (Gloo has no AVG)
  case NM_DIST_MAX: return c10d::ReduceOp::MAX;
  case NM_DIST_MIN: return c10d::ReduceOp::MIN;
  }
  fail(NM_ERR_ARG, "unknown reduce op " + std::to_string(op));
}

static void all_reduce(nm_dist *d, const std::vector<at::Tensor> &ts, int32_t op, int64_t cap,
                       const char *name) {
  const c10d::ReduceOp rop = reduce_op(op);
  each_bucket(ts, cap, [&](at::Tensor &buf) {
    std::vector<at::Tensor> v{buf};
    c10d::AllreduceOptions o;
    o.reduceOp = rop;
    o.timeout = d->timeout;
    run(d, name, [&] { return d->pg->allreduce(v, o); });
    if (op == NM_DIST_AVG) buf.div_(d->world);
  });
}

static std::vector<at::Tensor> tensor_list(const nm_tensor *const *xs, int32_t n, bool same_device,
                                           const nm_dist *d) {
  if (n < 0 || (n > 0 && xs == nullptr)) fail(NM_ERR_ARG, "bad tensor list");
  std::vector<at::Tensor> v;
  for (int32_t i = 0; i < n; i++) {
    const at::Tensor &t = T(xs[i], "tensor");
    if (same_device && t.device() != d->device)
      fail(NM_ERR_DEVICE, "tensor " + std::to_string(i) + " is on " + t.device().str() +
                              "; this process group works on " + d->device.str());
    v.push_back(t);
  }
  return v;
}

static std::string getenv_or(const char *k, const char *def) {
  const char *v = std::getenv(k);
  return v != nullptr && *v != 0 ? v : def;
}

static c10::intrusive_ptr<PGBase> make_gloo(const c10::intrusive_ptr<c10d::Store> &store, int rank,
                                            int world, ms timeout) {
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  // As torch.distributed: GLOO_SOCKET_IFNAME (comma-separated) picks the
  // interfaces, else the address this host's name resolves to.
  const std::string ifs = getenv_or("GLOO_SOCKET_IFNAME", "");
  if (!ifs.empty()) {
    std::istringstream in(ifs);
    for (std::string name; std::getline(in, name, ',');)
      if (!name.empty())
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  opts->threads = static_cast<int>(opts->devices.size()) * 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
}

#if NASHMD_CUDA
// NCCL on CUDA builds: one device per rank (cfg->device_index). Errors and
// timeouts surface through blocking wait, which Work::wait(timeout) honours.
static c10::intrusive_ptr<PGBase> make_nccl(const c10::intrusive_ptr<c10d::Store> &store, int rank,
                                            int world, ms timeout) {
  setenv("NCCL_BLOCKING_WAIT", "1", 0);       // libtorch 1.13
  setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0); // libtorch 2.x
  auto opts = c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
}
#endif

static void stop_heartbeat(nm_dist *d, bool join) {
  {
    std::lock_guard<std::mutex> g(d->hb_mu);
    d->hb_stop = true;
  }
  d->hb_cv.notify_all();
  if (d->hb_thread.joinable()) {
    if (join)
      d->hb_thread.join();
    else
      d->hb_thread.detach();
  }
}

} // namespace nm

using namespace nm;

nm_error *nm_dist_new(const nm_dist_config *cfg, nm_dist **out) {
  NM_PROTECT({
    need_out(out);
    if (cfg == nullptr) fail(NM_ERR_ARG, "config is NULL");
    if (cfg->master_addr == nullptr || *cfg->master_addr == 0)
      fail(NM_ERR_ARG, "master address is empty");
    if (cfg->master_port <= 0 || cfg->master_port > 65535)
      fail(NM_ERR_ARG, "master port " + std::to_string(cfg->master_port) + " is not in 1..65535");
    if (cfg->world_size < 1 || cfg->rank < 0 || cfg->rank >= cfg->world_size)
      fail(NM_ERR_ARG, "rank " + std::to_string(cfg->rank) + " does not fit world size " +
                           std::to_string(cfg->world_size));
    if (cfg->timeout_ms <= 0) fail(NM_ERR_ARG, "timeout must be positive");
    auto d = std::make_unique<nm_dist>();
    d->rank = cfg->rank;
    d->world = cfg->world_size;
    d->backend = cfg->backend;
    d->timeout = ms(cfg->timeout_ms);
    d->heartbeat = cfg->heartbeat_ms > 0 ? ms(cfg->heartbeat_ms)
                                         : std::max(ms(50), std::min(ms(1000), d->timeout / 10));
    d->where = std::string(cfg->master_addr) + ":" + std::to_string(cfg->master_port);
    d->store_on_rank0 = cfg->agent_store == 0;
    const std::string prefix = cfg->store_prefix != nullptr ? cfg->store_prefix : "";

    auto connect = [&](bool server, bool wait_workers) -> c10::intrusive_ptr<c10d::Store> {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(cfg->master_port);
      o.isServer = server;
      o.numWorkers = static_cast<std::size_t>(cfg->world_size);
      o.waitWorkers = wait_workers;
      o.timeout = d->timeout;
      o.multiTenant = false;
      c10::intrusive_ptr<c10d::Store> s = c10::make_intrusive<c10d::TCPStore>(cfg->master_addr, o);
      if (!prefix.empty()) s = c10::make_intrusive<c10d::PrefixStore>(prefix, s);
      return s;
    };
    try {
      d->store = connect(cfg->rank == 0 && cfg->agent_store == 0, true);
      d->hb_store = connect(false, false);
    } catch (const std::exception &e) {
      fail(NM_ERR_DIST, "rendezvous at " + d->where + " (rank " + std::to_string(d->rank) + " of " +
                            std::to_string(d->world) + ") failed: " + e.what());
    }
    // The first heartbeat is written before the group forms, so that every
    // rank's key exists once any collective can run.
    d->hb_store->set(hb_key(d->rank), bytes_of("0 0"));
    d->hb_thread = std::thread(heartbeat_loop, d.get());
    try {
      switch (cfg->backend) {
      case NM_DIST_GLOO: d->pg = make_gloo(d->store, d->rank, d->world, d->timeout); break;
      case NM_DIST_NCCL:
#if NASHMD_CUDA
        d->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(cfg->device_index));
        d->pg = make_nccl(d->store, d->rank, d->world, d->timeout);
        break;
#else
        fail(NM_ERR_DEVICE, "the NCCL backend needs a CUDA build (make cuda)");
#endif
      default: fail(NM_ERR_ARG, "unknown backend " + std::to_string(cfg->backend));
      }
    } catch (const Error &) {
      stop_heartbeat(d.get(), true);
      throw;
    } catch (const std::exception &e) {
      stop_heartbeat(d.get(), true);
      fail(NM_ERR_DIST, "process group (rank " + std::to_string(d->rank) + " of " +
                            std::to_string(d->world) + ", store " + d->where +
                            ") failed to form: " + e.what());
    }
    *out = d.release();
  });
}

nm_error *nm_dist_free(nm_dist *d) {
  NM_PROTECT({
    if (d == nullptr) return;
    if (d->broken) {
      // Threads may still wait on a dead peer: stop nothing that could
      // block, keep the group alive (leaked) and let the process exit.
      stop_heartbeat(d, false);
      (void)d->pg.release();
      (void)d->store.release();
      (void)d->hb_store.release();
      return;
    }
    stop_heartbeat(d, true);
    delete d;
  });
}

nm_error *nm_dist_all_reduce(nm_dist *d, const nm_tensor *const *xs, int32_t n, int32_t op,
                             int64_t bucket_bytes) {
  NM_PROTECT({
    if (d == nullptr) fail(NM_ERR_ARG, "process group is NULL");
    all_reduce(d, tensor_list(xs, n, true, d), op, bucket_bytes, "all_reduce");
  });
}

nm_error *nm_dist_all_reduce_grads(nm_dist *d, const nm_tensor *const *params, int32_t n,
                                   int64_t bucket_bytes, double *transfer_seconds) {
  NM_PROTECT({
    if (d == nullptr) fail(NM_ERR_ARG, "process group is NULL");
    std::vector<at::Tensor> ps = tensor_list(params, n, true, d);
    // Which parameters have a gradient on some rank: those get one
    // everywhere (zeros where missing); the others stay without.
    at::Tensor has = at::zeros({static_cast<int64_t>(ps.size())},
                               at::TensorOptions().dtype(at::kFloat).device(d->device));
    {
      c10::NoGradGuard ng;
      for (size_t i = 0; i < ps.size(); i++)
        if (ps[i].grad().defined()) has[static_cast<int64_t>(i)].fill_(1);
    }
    all_reduce(d, {has}, NM_DIST_MAX, 0, "all_reduce_grads");
    const at::Tensor on_host = has.cpu();
    const float *flags = on_host.data_ptr<float>();
    std::vector<at::Tensor> grads;
    for (size_t i = 0; i < ps.size(); i++) {
      if (flags[i] == 0) continue;
      if (!ps[i].grad().defined()) ps[i].mutable_grad() = at::zeros_like(ps[i]);
      grads.push_back(ps[i].grad());
    }
    // The flags' all-reduce has brought every rank here: what follows is
    // the transfer and reduction itself, without waiting for stragglers.
    const auto t0 = steady::now();
    all_reduce(d, grads, NM_DIST_AVG, bucket_bytes, "all_reduce_grads");
    if (transfer_seconds != nullptr)
      *transfer_seconds = std::chrono::duration<double>(steady::now() - t0).count();
  });
}

nm_error *nm_dist_broadcast(nm_dist *d, const nm_tensor *const *xs, int32_t n, int32_t root,
                            int64_t bucket_bytes) {
  NM_PROTECT({
    if (d == nullptr) fail(NM_ERR_ARG, "process group is NULL");
    if (root < 0 || root >= d->world)
      fail(NM_ERR_ARG,
           "root " + std::to_string(root) + " is not a rank of " + std::to_string(d->world));
    each_bucket(tensor_list(xs, n, true, d), bucket_bytes, [&](at::Tensor &buf) {
      std::vector<at::Tensor> v{buf};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      o.timeout = d->timeout;
      run(d, "broadcast", [&] { return d->pg->broadcast(v, o); });
    });
  });
}

nm_error *nm_dist_barrier(nm_dist *d) {
  NM_PROTECT({
    if (d == nullptr) fail(NM_ERR_ARG, "process group is NULL");
    // A one-element all-reduce: Gloo's barrier and NCCL's (which guesses a
    // device) behave alike under it, and it carries the same diagnosis.
    at::Tensor one = at::ones({1}, at::TensorOptions().dtype(at::kFloat).device(d->device));
    std::vector<at::Tensor> v{one};
    c10d::AllreduceOptions o;
    o.timeout = d->timeout;
    run(d, "barrier", [&] { return d->pg->allreduce(v, o); });
  });
}

nm_error *nm_dist_all_gather(nm_dist *d, const void *data, int64_t nbytes, void *out) {
  NM_PROTECT({
    if (d == nullptr) fail(NM_ERR_ARG, "process group is NULL");
    if (nbytes < 0 || (nbytes > 0 && (data == nullptr || out == nullptr)))
      fail(NM_ERR_ARG, "bad buffer");
    if (nbytes == 0) return;
    const auto u8 = at::TensorOptions().dtype(at::kByte);
    at::Tensor in =
        at::from_blob(const_cast<void *>(data), {nbytes}, u8).to(d->device, at::kByte, false, true);
    std::vector<at::Tensor> outs;
    for (int r = 0; r < d->world; r++)
      outs.push_back(at::empty({nbytes}, u8.device(d->device)));
    std::vector<std::vector<at::Tensor>> o{outs};
    std::vector<at::Tensor> i{in};
    c10d::AllgatherOptions opt;
    opt.timeout = d->timeout;
    run(d, "all_gather", [&] { return d->pg->allgather(o, i, opt); });
    at::Tensor all = at::cat(o[0]).cpu();
    std::memcpy(out, all.data_ptr(), static_cast<size_t>(nbytes) * static_cast<size_t>(d->world));
  });
}
