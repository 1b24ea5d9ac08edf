package torch

/*
#include <stdlib.h>
#include "nashmd.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// ---- data parallelism over c10d ---------------------------------------------

// DistEnv is this process's place in a data-parallel job, as its launcher
// describes it in the environment (see DistEnvFrom).
type DistEnv struct {
	MasterAddr  string // host of the rendezvous store
	MasterPort  int
	Rank        int // 0 … WorldSize-1
	WorldSize   int
	LocalRank   int    // rank among the processes of this node (the CUDA device under NCCL)
	AgentStore  bool   // the launcher's agent hosts the store (torchrun's TORCHELASTIC_USE_AGENT_STORE)
	StorePrefix string // keys live under it ("" for none)
	Source      string // "torchrun" or "slurm": which variables these came from
}

// DefaultMasterPort is torch.distributed's default store port, used under
// Slurm when MASTER_PORT is not set.
const DefaultMasterPort = 29500

// DistEnvFrom reads the launcher's variables through getenv (os.Getenv in
// production). torchrun's MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE and
// LOCAL_RANK come first; when WORLD_SIZE is absent, Slurm's SLURM_PROCID,
// SLURM_NTASKS and SLURM_LOCALID stand for RANK, WORLD_SIZE and LOCAL_RANK
// (with MASTER_ADDR defaulting to the first host of SLURM_JOB_NODELIST and
// MASTER_PORT to 29500). ok is false when there is no launcher or the world
// has one process: the process then runs alone. A variable that is set but
// malformed, or a required one that is missing, is an error naming it.
func DistEnvFrom(getenv func(string) string) (env DistEnv, ok bool, err error) {
	num := func(key string, def int) (int, error) {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			if def >= 0 {
				return def, nil
			}
			return 0, fmt.Errorf("%s is not set", key)
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s=%q: want a non-negative integer", key, v)
		}
		return n, nil
	}
	var errs []string
	collect := func(n int, err error) int {
		if err != nil {
			errs = append(errs, err.Error())
		}
		return n
	}
	switch {
	case strings.TrimSpace(getenv("WORLD_SIZE")) != "":
		env.Source = "torchrun"
		env.WorldSize = collect(num("WORLD_SIZE", -1))
		env.Rank = collect(num("RANK", -1))
		env.LocalRank = collect(num("LOCAL_RANK", 0))
		env.MasterAddr = strings.TrimSpace(getenv("MASTER_ADDR"))
		if env.MasterAddr == "" && env.WorldSize > 1 {
			errs = append(errs, "MASTER_ADDR is not set")
		}
		env.MasterPort = collect(num("MASTER_PORT", -1))
		if getenv("TORCHELASTIC_USE_AGENT_STORE") == "True" {
			env.AgentStore = true
			env.StorePrefix = "/worker/attempt_" + strings.TrimSpace(getenv("TORCHELASTIC_RESTART_COUNT"))
			if env.StorePrefix == "/worker/attempt_" {
				env.StorePrefix += "0"
			}
		}
	case strings.TrimSpace(getenv("SLURM_NTASKS")) != "":
		env.Source = "slurm"
		env.WorldSize = collect(num("SLURM_NTASKS", -1))
		env.Rank = collect(num("SLURM_PROCID", -1))
		env.LocalRank = collect(num("SLURM_LOCALID", 0))
		env.MasterAddr = strings.TrimSpace(getenv("MASTER_ADDR"))
		if env.MasterAddr == "" {
			env.MasterAddr = firstSlurmHost(getenv("SLURM_JOB_NODELIST"))
		}
		if env.MasterAddr == "" && env.WorldSize > 1 {
			errs = append(errs, "MASTER_ADDR is not set and SLURM_JOB_NODELIST names no host")
		}
		env.MasterPort = collect(num("MASTER_PORT", DefaultMasterPort))
	default:
		return DistEnv{}, false, nil
	}
	if len(errs) == 0 {
		switch {
		case env.WorldSize < 1:
			errs = append(errs, fmt.Sprintf("world size %d: want >= 1", env.WorldSize))
		case env.Rank >= env.WorldSize:
			errs = append(errs, fmt.Sprintf("rank %d does not fit world size %d", env.Rank, env.WorldSize))
		case env.WorldSize > 1 && (env.MasterPort < 1 || env.MasterPort > 65535):
			errs = append(errs, fmt.Sprintf("MASTER_PORT=%d: want 1..65535", env.MasterPort))
		}
	}
	if len(errs) > 0 {
		return env, false, fmt.Errorf("data-parallel environment (%s): %s", env.Source, strings.Join(errs, "; "))
	}
	return env, env.WorldSize > 1, nil
}

var slurmHostRE = regexp.MustCompile(`^([^\[,]*)(?:\[([0-9]+)[^\]]*\])?`)

// firstSlurmHost is the first host of a Slurm host list: "node[03-05,9],x"
// gives "node03".
func firstSlurmHost(list string) string {
	m := slurmHostRE.FindStringSubmatch(strings.TrimSpace(list))
	if m == nil {
		return ""
	}
	return m[1] + m[2]
}

// Backends of NewProcessGroup.
const (
	BackendGloo = "gloo" // CPU tensors, any build
	BackendNCCL = "nccl" // CUDA tensors, CUDA builds
)

// ReduceOp combines values across ranks.
type ReduceOp int32

const (
	ReduceSum ReduceOp = C.NM_DIST_SUM
	ReduceAvg ReduceOp = C.NM_DIST_AVG // the sum divided by the world size
	ReduceMax ReduceOp = C.NM_DIST_MAX
	ReduceMin ReduceOp = C.NM_DIST_MIN
)

// DistOptions configure a process group.
type DistOptions struct {
	Backend     string        // BackendGloo (default) or BackendNCCL
	Timeout     time.Duration // rendezvous and every collective; default 30 min (transformers' ddp_timeout)
	Heartbeat   time.Duration // liveness period used to name lost ranks; 0: min(1 s, Timeout/10)
	BucketBytes int64         // collective bucket size; 0: 25 MB (DistributedDataParallel's)
}

// ProcessGroup is one process's membership in a c10d process group: Gloo
// on CPU, NCCL on CUDA builds. Every call is a collective: all ranks make the
// same calls in the same order with the same shapes. A failed collective (a
// peer died, hung past the timeout) returns an error with Code CodeDist
// naming the lost or lagging rank, and the group is broken from then on:
// the process should report it and exit. Close leaves the group.
type ProcessGroup struct {
	h    *C.nm_dist
	env  DistEnv
	opts DistOptions
}

// NewProcessGroup joins the group described by env within o.Timeout.
//
// It ignores SIGPIPE for the whole process, as Python does: Gloo writes to
// sockets from its own threads, and a write to a peer that died would
// otherwise kill the process instead of returning an error.
func NewProcessGroup(env DistEnv, o DistOptions) (*ProcessGroup, error) {
	const op = "NewProcessGroup"
	if o.Backend == "" {
		o.Backend = BackendGloo
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Minute
	}
	var backend C.int32_t
	switch o.Backend {
	case BackendGloo:
		backend = C.NM_DIST_GLOO
	case BackendNCCL:
		backend = C.NM_DIST_NCCL
		if err := checkDevice(op, CUDA(env.LocalRank)); err != nil {
			return nil, err
		}
	default:
		return nil, argError(op, fmt.Sprintf("backend %q: want %q or %q", o.Backend, BackendGloo, BackendNCCL))
	}
	signal.Ignore(syscall.SIGPIPE)
	addr := C.CString(env.MasterAddr)
	defer C.free(unsafe.Pointer(addr))
	prefix := C.CString(env.StorePrefix)
	defer C.free(unsafe.Pointer(prefix))
	agent := C.int32_t(0)
	if env.AgentStore {
		agent = 1
	}
	cfg := C.nm_dist_config{
		master_addr: addr, master_port: C.int32_t(env.MasterPort),
		rank: C.int32_t(env.Rank), world_size: C.int32_t(env.WorldSize),
		backend: backend, device_index: C.int32_t(env.LocalRank),
		timeout_ms: C.int64_t(max(o.Timeout.Milliseconds(), 1)), heartbeat_ms: C.int64_t(o.Heartbeat.Milliseconds()),
		agent_store: agent, store_prefix: prefix,
	}
	var h *C.nm_dist
	if err := check(op, C.nm_dist_new(&cfg, &h)); err != nil {
		return nil, err
	}
	return &ProcessGroup{h: h, env: env, opts: o}, nil
}

// Rank is this process's rank, 0 … WorldSize()-1.
func (g *ProcessGroup) Rank() int { return g.env.Rank }

// WorldSize is the number of processes in the group.
func (g *ProcessGroup) WorldSize() int { return g.env.WorldSize }

// Env is the environment the group was formed from.
func (g *ProcessGroup) Env() DistEnv { return g.env }

// Options are the group's options with defaults filled in.
func (g *ProcessGroup) Options() DistOptions { return g.opts }

// Close leaves the group; it makes no collective, so for an orderly end
// call Barrier first. Idempotent and nil-safe.
func (g *ProcessGroup) Close() error {
	if g == nil || g.h == nil {
		return nil
	}
	err := check("ProcessGroup.Close", C.nm_dist_free(g.h))
	g.h = nil
	return err
}

func (g *ProcessGroup) handle(op string) (*C.nm_dist, error) {
	if g == nil || g.h == nil {
		return nil, argError(op, "process group is nil or closed")
	}
	return g.h, nil
}

// AllReduce combines ts element-wise across ranks, in place, flattening
// them into buckets of Options().BucketBytes (one collective per bucket).
// Every rank passes tensors of the same shapes and dtypes.
func (g *ProcessGroup) AllReduce(ts []*Tensor, op ReduceOp) error {
	h, err := g.handle("ProcessGroup.AllReduce")
	if err != nil {
		return err
	}
	p, n, free, err := handles("ProcessGroup.AllReduce", ts)
	if err != nil {
		return err
	}
	defer free()
	return check("ProcessGroup.AllReduce", C.nm_dist_all_reduce(h, p, n, C.int32_t(op), C.int64_t(g.opts.BucketBytes)))
}

// AllReduceGrads averages the gradients of params across ranks, bucketed, as
// DistributedDataParallel does after backward. A parameter with a gradient
// on some rank ends with the average on every rank (counting zeros where it
// had none); one with no gradient anywhere keeps none. transfer is the time
// of the bucketed all-reduce once every rank had arrived.
func (g *ProcessGroup) AllReduceGrads(params []*Tensor) (transfer time.Duration, err error) {
	h, err := g.handle("ProcessGroup.AllReduceGrads")
	if err != nil {
		return 0, err
	}
	p, n, free, err := handles("ProcessGroup.AllReduceGrads", params)
	if err != nil {
		return 0, err
	}
	defer free()
	var secs C.double
	if err := check("ProcessGroup.AllReduceGrads", C.nm_dist_all_reduce_grads(h, p, n, C.int64_t(g.opts.BucketBytes), &secs)); err != nil {
		return 0, err
	}
	return time.Duration(float64(secs) * float64(time.Second)), nil
}

// Broadcast copies root's ts into every rank's ts, in place, bucketed.
func (g *ProcessGroup) Broadcast(ts []*Tensor, root int) error {
	h, err := g.handle("ProcessGroup.Broadcast")
	if err != nil {
		return err
	}
	p, n, free, err := handles("ProcessGroup.Broadcast", ts)
	if err != nil {
		return err
	}
	defer free()
	return check("ProcessGroup.Broadcast", C.nm_dist_broadcast(h, p, n, C.int32_t(root), C.int64_t(g.opts.BucketBytes)))
}

// Barrier returns once every rank has called it.
func (g *ProcessGroup) Barrier() error {
	h, err := g.handle("ProcessGroup.Barrier")
	if err != nil {
		return err
	}
	return check("ProcessGroup.Barrier", C.nm_dist_barrier(h))
}

// allGather gathers equal-sized byte strings.
func (g *ProcessGroup) allGather(op string, b []byte) ([]byte, error) {
	h, err := g.handle(op)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(b)*g.env.WorldSize)
	if len(b) == 0 {
		return out, nil
	}
	return out, check(op, C.nm_dist_all_gather(h, unsafe.Pointer(&b[0]), C.int64_t(len(b)), unsafe.Pointer(&out[0])))
}

// AllGatherBytes returns every rank's b, in rank order (lengths may differ).
// It is meant for small host values: metrics, RNG states.
func (g *ProcessGroup) AllGatherBytes(b []byte) ([][]byte, error) {
	const op = "ProcessGroup.AllGatherBytes"
	lens, err := g.allGather(op, binary.LittleEndian.AppendUint64(nil, uint64(len(b))))
	if err != nil {
		return nil, err
	}
	n := make([]int, g.env.WorldSize)
	longest := 0
	for r := range n {
		n[r] = int(binary.LittleEndian.Uint64(lens[8*r:]))
		longest = max(longest, n[r])
	}
	padded := make([]byte, longest)
	copy(padded, b)
	all, err := g.allGather(op, padded)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, g.env.WorldSize)
	for r := range out {
		out[r] = all[r*longest : r*longest+n[r] : r*longest+n[r]]
	}
	return out, nil
}

// AllGatherFloat64 returns every rank's x, in rank order; every rank must
// pass the same length.
func (g *ProcessGroup) AllGatherFloat64(x []float64) ([][]float64, error) {
	const op = "ProcessGroup.AllGatherFloat64"
	b := make([]byte, 8*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	parts, err := g.AllGatherBytes(b)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(parts))
	for r, p := range parts {
		if len(p) != len(b) {
			return nil, argError(op, fmt.Sprintf("rank %d passed %d values, rank %d passed %d", r, len(p)/8, g.env.Rank, len(x)))
		}
		out[r] = make([]float64, len(x))
		for i := range out[r] {
			out[r][i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
		}
	}
	return out, nil
}

// DistEnvFromOS is DistEnvFrom(os.Getenv).
func DistEnvFromOS() (DistEnv, bool, error) { return DistEnvFrom(os.Getenv) }
