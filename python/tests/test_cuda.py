"""The CUDA path from Python: torch tensors on the GPU through the cuda backend, against the cpu
backend on the same data; zero copy on the device; gdn on torch's current stream, on a wrapped
stream and on its own; a decode step captured in torch.cuda.graph and replayed; device errors.

Skipped where torch has no CUDA device or gdn has no usable cuda backend (the rest of the suite
runs the cpu backend). On a GPU machine:

    PYTHONPATH=build/python python3 -m pytest -q python/tests/test_cuda.py
"""

import pytest

import gdn
from conftest import TOLERANCE, Problem, rel_l2

torch = pytest.importorskip("torch")


def cuda_backend():
    """(gdn's cuda backend, None), or (None, why the tests are skipped)."""
    if not torch.cuda.is_available():
        return None, "torch has no CUDA device"
    try:
        return gdn.open("cuda"), None
    except gdn.Error as e:
        return None, f"gdn has no usable cuda backend: {e}"


CUDA, WHY_SKIPPED = cuda_backend()
pytestmark = pytest.mark.skipif(CUDA is None, reason=str(WHY_SKIPPED))
DEV = torch.device("cuda", CUDA.device) if CUDA else None
# The name errors give the backend ('cuda', or 'cuda:N' for a device N other than 0).
BACKEND = CUDA.name if CUDA else None


def on_device(*tensors):
    return tuple(t.to(DEV) for t in tensors)


def device_layer(p):
    w, A, dt = on_device(p.conv_weight, p.A_log, p.dt_bias)
    torch.cuda.synchronize()  # the layer reads A_log and dt_bias once, on gdn's own stream
    return gdn.RadixLinearAttention(7, 0, p.H, p.HV, p.Dk, p.Dv, w, A, dt)


def states(pool):
    """(recurrent, conv) of layer 0 as torch views of the pool (on the pool's device)."""
    return torch.from_dlpack(pool.recurrent_state(0)), torch.from_dlpack(pool.conv_state(0))


def copy_states(src, dst):
    for s, d in zip(states(src), states(dst)):
        d.copy_(s)


def check_same(p, got_out, want_out, got_pool, want_pool, slots):
    """The cuda backend's output and states against the cpu backend's: each is within the golden
    README's bound of the exact layer, so they are within twice it of each other; the conv state is
    the inputs themselves, exact."""
    tol = 2 * TOLERANCE[p.dtype]
    assert got_out.device == DEV
    assert rel_l2(got_out.cpu(), want_out) <= tol
    rec, conv = states(got_pool)
    want_rec, want_conv = states(want_pool)
    assert rel_l2(rec[slots].cpu(), want_rec[slots]) <= tol
    assert torch.equal(conv[slots].cpu(), want_conv[slots])


@pytest.mark.parametrize("dtype", ["f32", "bf16", "f16"])
@pytest.mark.parametrize("dims", [(2, 4, 16, 16), (2, 4, 128, 128)])
def test_prefill_then_decode_matches_the_cpu_backend(cpu, seed, dtype, dims):
    H, HV, Dk, Dv = dims
    p = Problem(H=H, HV=HV, Dk=Dk, Dv=Dv, dtype=dtype, lens=(5, 0, 70, 2))
    slots = [11, 3, 8, 0]
    host, dev = p.pool(cpu), p.pool(CUDA)
    p.place_states(host, slots)
    p.place_states(dev, slots)
    layer_h, layer_d = p.layer(), device_layer(p)

    # Prefill: the cuda backend against the cpu backend and against the torch recurrence.
    x, a, b = on_device(p.mixed_qkv, p.a, p.b)
    out_d = layer_d.forward(gdn.ForwardBatch.extend(dev, slots, p.lens), x, a, b)
    out_h = layer_h.forward(gdn.ForwardBatch.extend(host, slots, p.lens), p.mixed_qkv, p.a, p.b)
    assert isinstance(out_d, torch.Tensor) and out_d.dtype == p.mixed_qkv.dtype
    assert out_d.shape == (sum(p.lens), p.HV * p.Dv)
    check_same(p, out_d, out_h, dev, host, slots)
    want_out, _, want_rec = p.expected()
    assert rel_l2(out_d.cpu().double(), want_out) <= TOLERANCE[dtype]
    assert rel_l2(states(dev)[0][slots].cpu(), want_rec) <= TOLERANCE[dtype]

    # Decode steps, then a mixed step, each from the same states on both backends.
    td = p.mixed_qkv.dtype
    steps = [("decode", [1, 1, 1, 1]), ("decode", [1, 1, 1, 1]), ("mixed", [1, 6, 0, 1])]
    for mode, lens in steps:
        copy_states(host, dev)
        T = sum(lens)
        x, a, b = torch.randn(T, p.C).to(td), torch.randn(T, p.HV).to(td), torch.randn(T, p.HV).to(td)
        dx, da, db = on_device(x, a, b)
        out_d = layer_d.forward(gdn.ForwardBatch(mode, dev, slots, lens), dx, da, db)
        out_h = layer_h.forward(gdn.ForwardBatch(mode, host, slots, lens), x, a, b)
        check_same(p, out_d, out_h, dev, host, slots)


def test_out_and_pool_views_are_device_memory_without_copies(cpu, seed):
    p = Problem(dtype="bf16", lens=(3, 4))
    slots = [2, 5]
    dev, host = p.pool(CUDA), p.pool(cpu)
    p.place_states(dev, slots)
    p.place_states(host, slots)

    rec_view, conv_view = dev.recurrent_state(0), dev.conv_state(0)
    rec, conv = torch.from_dlpack(rec_view), torch.from_dlpack(conv_view)
    assert rec.device == DEV and conv.device == DEV
    assert rec.data_ptr() == rec_view.data_ptr() and conv.data_ptr() == conv_view.data_ptr()
    assert rec_view.__dlpack_device__() == (2, CUDA.device)  # kDLCUDA

    x, a, b = on_device(p.mixed_qkv, p.a, p.b)
    out = torch.full((sum(p.lens), p.HV * p.Dv), float("nan"), dtype=torch.bfloat16, device=DEV)
    ptr = out.data_ptr()
    got = device_layer(p).forward(gdn.ForwardBatch.extend(dev, slots, p.lens), x, a, b, out)
    assert got is out and out.data_ptr() == ptr
    want = p.layer().forward(gdn.ForwardBatch.extend(host, slots, p.lens), p.mixed_qkv, p.a, p.b)
    # The views made before the call see the states the call wrote.
    check_same(p, out, want, dev, host, slots)
    assert rel_l2(rec[slots].cpu(), states(host)[0][slots]) <= 2 * TOLERANCE["bf16"]

    # Strided device inputs (column slices of one fused projection, rows not 16-byte aligned: the
    # plugin may load them another way) from the same states give the same output and states.
    first = (out.clone(), rec[slots].clone(), conv[slots].clone())
    T = sum(p.lens)
    fused = torch.zeros(T, p.C + 2 * p.HV + 3, dtype=torch.bfloat16, device=DEV)
    fused[:, 3:3 + p.C] = x
    fused[:, 3 + p.C:3 + p.C + p.HV] = a
    fused[:, 3 + p.C + p.HV:] = b
    views = (fused[:, 3:3 + p.C], fused[:, 3 + p.C:3 + p.C + p.HV], fused[:, 3 + p.C + p.HV:])
    assert not views[0].is_contiguous()
    p.place_states(dev, slots)
    got = device_layer(p).forward(gdn.ForwardBatch.extend(dev, slots, p.lens), *views)
    tol = 2 * TOLERANCE["bf16"]
    assert rel_l2(got.cpu(), first[0].cpu()) <= tol and rel_l2(rec[slots].cpu(), first[1].cpu()) <= tol
    assert torch.equal(conv[slots], first[2])


def sleep_then_copy(stream, dst, src):
    """On `stream`: a long busy wait, then dst <- src. Work on another stream that reads dst runs
    before the copy lands and reads the old contents."""
    with torch.cuda.stream(stream):
        torch.cuda._sleep(100_000_000)  # about 50 ms
        dst.copy_(src)


def stream_problem(cpu):
    p = Problem(dtype="f32", lens=(1, 1))
    slots = [4, 1]
    dev, host = p.pool(CUDA), p.pool(cpu)
    p.place_states(dev, slots)
    p.place_states(host, slots)
    want = p.layer().forward(gdn.ForwardBatch.decode(host, slots), p.mixed_qkv, p.a, p.b)
    x, a, b = on_device(p.mixed_qkv, p.a, p.b)
    staged = torch.zeros_like(x)  # what gdn reads if it runs before the copy lands
    layer = device_layer(p)
    warm_up(p, layer, dev, slots, (x, a, b), torch.cuda.current_stream())
    return p, slots, dev, host, want, layer, (x, a, b, staged)


def warm_up(p, layer, pool, slots, inputs, stream):
    """One step on `stream`, then the problem's states again: the first step on a stream wraps it
    and allocates for it, synchronizing the stream, which would hide the ordering under test."""
    with torch.cuda.stream(stream):
        layer.forward(gdn.ForwardBatch.decode(pool, slots), *inputs)
    torch.cuda.synchronize()
    p.place_states(pool, slots)
    torch.cuda.synchronize()


def test_gdn_runs_on_torchs_current_stream(cpu, seed):
    """Under a non-default torch stream, gdn's work is queued on that stream: it reads an input
    that stream writes just before, and is done when only that stream is synchronized."""
    p, slots, dev, host, want, layer, (x, a, b, staged) = stream_problem(cpu)
    s = torch.cuda.Stream()
    warm_up(p, layer, dev, slots, (x, a, b), s)
    sleep_then_copy(s, staged, x)
    with torch.cuda.stream(s):
        out = layer.forward(gdn.ForwardBatch.decode(dev, slots), staged, a, b)
    s.synchronize()
    check_same(p, out, want, dev, host, slots)

    # And on the legacy default stream (torch's stream 0) once back outside the context.
    p.place_states(dev, slots)
    staged.zero_()
    torch.cuda.synchronize()
    sleep_then_copy(torch.cuda.current_stream(), staged, x)
    out = layer.forward(gdn.ForwardBatch.decode(dev, slots), staged, a, b)
    torch.cuda.current_stream().synchronize()
    check_same(p, out, want, dev, host, slots)


def test_an_explicit_stream_is_used_instead_of_the_current_one(cpu, seed):
    p, slots, dev, host, want, layer, (x, a, b, staged) = stream_problem(cpu)
    s = torch.cuda.Stream()
    wrapped = gdn.Stream.wrap(CUDA, s.cuda_stream)
    assert wrapped.wraps_native and wrapped.native_handle == s.cuda_stream
    batch = gdn.ForwardBatch.decode(dev, slots)
    batch.stream = wrapped
    out = torch.empty(len(slots), p.HV * p.Dv, device=DEV)
    torch.cuda.synchronize()  # `out` exists before the work on s that writes it
    sleep_then_copy(s, staged, x)
    layer.forward(batch, staged, a, b, out)  # torch's current stream is the default one
    s.synchronize()
    check_same(p, out, want, dev, host, slots)

    # gdn's own stream: ordered with nothing of torch's, so everything is synchronized around it.
    p.place_states(dev, slots)
    torch.cuda.synchronize()
    own = gdn.Stream(CUDA)
    batch.stream = own
    out = layer.forward(batch, x, a, b)
    own.synchronize()
    check_same(p, out, want, dev, host, slots)


@pytest.mark.parametrize("dtype", ["f32", "bf16"])
@pytest.mark.parametrize("allocate", [False, True], ids=["out_given", "out_allocated"])
def test_decode_step_captured_in_a_cuda_graph(seed, dtype, allocate):
    """A decode step captured in torch.cuda.graph and replayed over new inputs (and, after
    update_slots, new slots) gives exactly the outputs and states of the same steps run eagerly."""
    p = Problem(dtype=dtype, lens=(1, 1, 1))
    td = p.mixed_qkv.dtype
    slots, moved = [3, 7, 1], [7, 1, 3]
    pool = p.pool(CUDA)
    p.place_states(pool, slots)
    layer = device_layer(p)
    steps = [on_device(torch.randn(3, p.C).to(td), torch.randn(3, p.HV).to(td), torch.randn(3, p.HV).to(td))
             for _ in range(4)]
    rec, conv = states(pool)
    start = (rec.clone(), conv.clone())

    def restart():
        rec.copy_(start[0])
        conv.copy_(start[1])

    eager = gdn.ForwardBatch.decode(pool, slots)
    want = [layer.forward(eager, *step).clone() for step in steps[:3]]
    want.append(layer.forward(gdn.ForwardBatch.decode(pool, moved), *steps[3]).clone())
    want_states = (rec.clone(), conv.clone())

    restart()
    batch = gdn.ForwardBatch.decode(pool, slots)  # built before the capture: it uploads its slots
    sx, sa, sb = (t.clone() for t in steps[0])
    sout = torch.empty(3, p.HV * p.Dv, dtype=td, device=DEV)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # one eager step on the capture stream before the capture
        layer.forward(batch, sx, sa, sb, sout)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    restart()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=s):
        if allocate:
            sout = layer.forward(batch, sx, sa, sb)  # torch's allocation, in the graph's pool
        else:
            layer.forward(batch, sx, sa, sb, sout)
    torch.cuda.synchronize()
    assert torch.equal(rec, start[0]) and torch.equal(conv, start[1])  # capturing ran nothing

    got = []
    for i, (x, a, b) in enumerate(steps):
        if i == 3:
            torch.cuda.synchronize()  # the earlier replays have read the slots
            batch.update_slots(moved)
        sx.copy_(x)
        sa.copy_(a)
        sb.copy_(b)
        graph.replay()
        got.append(sout.clone())
    torch.cuda.synchronize()
    for g, w in zip(got, want):
        assert torch.equal(g, w)
    assert torch.equal(rec, want_states[0]) and torch.equal(conv, want_states[1])


def test_capture_on_a_stream_gdn_never_ran_on_is_refused(seed):
    p = Problem(dtype="f32", lens=(1,))
    pool = p.pool(CUDA)
    layer = device_layer(p)
    batch = gdn.ForwardBatch.decode(pool, [0])
    x, a, b = on_device(p.mixed_qkv, p.a, p.b)
    out = torch.empty(1, p.HV * p.Dv, device=DEV)
    torch.cuda.synchronize()
    before = pool.snapshot()
    s = torch.cuda.Stream(priority=-1)  # a high-priority stream: no other test runs gdn on one
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=s):
        with pytest.raises(gdn.Unsupported, match=r"^stream: torch's current stream is capturing a graph and gdn "
                                                  r"has not run on it before; run one step on that stream"):
            layer.forward(batch, x, a, b, out)
    torch.cuda.synchronize()
    assert pool.snapshot() == before


@pytest.mark.parametrize("argument", ["mixed_qkv", "a", "b", "out"])
def test_host_tensors_for_the_cuda_backend_are_refused_by_name(seed, argument):
    p = Problem(dtype="f32", lens=(2,))
    pool = p.pool(CUDA)
    p.place_states(pool, [1])
    layer = device_layer(p)
    args = dict(zip(("mixed_qkv", "a", "b"), on_device(p.mixed_qkv, p.a, p.b)))
    args["out"] = torch.empty(2, p.HV * p.Dv, device=DEV)
    args[argument] = args[argument].cpu()
    torch.cuda.synchronize()
    before = pool.snapshot()
    with pytest.raises(gdn.InvalidArgument, match=rf"^{argument}: memory on backend {BACKEND}, got host memory$"):
        layer.forward(gdn.ForwardBatch.extend(pool, [1], [2]), args["mixed_qkv"], args["a"], args["b"], args["out"])
    torch.cuda.synchronize()
    assert pool.snapshot() == before


def test_host_weights_for_the_cuda_backend_are_refused(seed):
    p = Problem(dtype="f32", lens=(2,))
    pool = p.pool(CUDA)
    layer = p.layer()  # weights in host memory
    x, a, b = on_device(p.mixed_qkv, p.a, p.b)
    torch.cuda.synchronize()
    before = pool.snapshot()
    with pytest.raises(gdn.InvalidArgument, match=rf"^layer weights: memory on backend {BACKEND}$"):
        layer.forward(gdn.ForwardBatch.extend(pool, [1], [2]), x, a, b)
    assert pool.snapshot() == before


def test_device_tensors_for_the_cpu_backend_are_refused_by_name(cpu, seed):
    p = Problem(dtype="f32", lens=(2,))
    pool = p.pool(cpu)
    before = pool.snapshot()
    x = p.mixed_qkv.to(DEV)
    with pytest.raises(gdn.InvalidArgument,
                       match=rf"^mixed_qkv: memory on backend cpu, got memory on cuda:{CUDA.device}$"):
        p.layer().forward(gdn.ForwardBatch.extend(pool, [1], [2]), x, p.a, p.b)
    assert pool.snapshot() == before
