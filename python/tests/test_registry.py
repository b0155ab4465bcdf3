"""The registry from Python: backends, open, load reports, properties and capabilities."""

import gdn


def test_cpu_is_available_and_opened_by_name(cpu):
    names = [b.name for b in gdn.backends()]
    assert "cpu" in names
    assert gdn.open("CPU") == cpu and cpu.name == "cpu" and cpu.plugin == "cpu"
    assert cpu.kind == "cpu" and cpu.host_accessible and not cpu.native_streams
    caps = cpu.capabilities
    assert set(caps["activation_dtypes"]) == {"f32", "bf16", "f16"}
    assert set(caps["modes"]) == {"extend", "decode", "mixed"}
    assert 4 in caps["conv_kernels"]
    assert cpu.properties["host_accessible"] is True


def test_load_reports_name_every_plugin_file():
    reports = gdn.load_reports()
    cpu = [r for r in reports if r.name == "cpu"]
    assert len(cpu) == 1
    r = cpu[0]
    assert r.usable and r.stage == "devices_probed" and r.status == 0 and r.device_count >= 1
    assert r.path.startswith(gdn.plugin_directory()) or r.path  # the build tree or GDN_PLUGIN_PATH
    assert r.abi[0] == 1
    assert "cpu" in str(r)


def test_pool_and_batch_describe_themselves(cpu):
    pool = gdn.GDNPool(cpu, 2, 5, 2, 4, 16, 16, 4, "bf16", engine_managed_slots=True)
    c = pool.config
    assert (c.num_layers, c.num_slots, c.num_k_heads, c.num_v_heads, c.head_k_dim, c.head_v_dim, c.conv_kernel,
            c.dtype, c.conv_dim) == (2, 5, 2, 4, 16, 16, 4, "bf16", 128)
    assert pool.padding_slot == 5 and pool.num_slots == 5 and pool.free_slots() == 5
    assert pool.nbytes == 2 * 6 * (4 * 16 * 16 * 4 + 128 * 3 * 2)
    batch = gdn.ForwardBatch.mixed(pool, [4, 0], [1, 6])
    assert batch.forward_mode == gdn.ForwardMode.MIXED and batch.num_tokens == 7 and batch.num_requests == 2
    assert batch.cu_seqlens == [0, 1, 7] and batch.req_pool_indices == [4, 0] and batch.backend == cpu
    assert batch.stream is None
    s = gdn.Stream(cpu, 1)
    batch.stream = s
    assert batch.stream is s and not s.wraps_native
