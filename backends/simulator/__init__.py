"""The batched simulator: runs a compiled module on N samples at once, with exactly the reference
interpreter's results (:mod:`bnnc.backends.interpreter` is the definition), orders of magnitude
faster.

Every value is held as a numpy array with a leading sample axis ``N`` followed by its declared
shape (whose own batch axis is 1), in its domain's dtype — the contract of
:func:`~bnnc.backends.interpreter.interpret_batch`. Every op runs once per batch (per chunk of
at most ``chunk`` samples): digital ``bnn`` ops reuse the interpreter's semantics where they are
already batch-correct (elementwise ops; ops whose axis 0 is independent run with ``N`` folded
into it), the ``xbar`` ops have batched kernels here, and a ``host.onnx`` partition runs once on
the whole batch when its graph can be given a symbolic batch axis (checked against per-sample
runs), otherwise sample by sample.

Integer path (``device=None``)
------------------------------
``xbar.mvm`` gives column counts (on-cells on driven rows), ``xbar.adc`` passes them through
(a count beyond the ADC's range is an error, as in the interpreter; skipped where the program
proves the range suffices), and sensing combines them into the signed value ``v`` of
:class:`bnnc.ir.dialects.xbar._Sensing`. Everything between a window and its sensing op is
linear and exact, which the simulator exploits without changing any result:

- an ``xbar.window`` whose result only array reads use stays a :class:`~.deferred.PortMatrix` (its input
  planes; im2col on demand; row tiles are ranges of it; xnor's complementary rows are never
  built: their cells become ``−G`` on the direct bits plus a per-position ``valid @ G``);
- array reads stay :class:`~.deferred.PendingReads` through proven-exact ADCs and accumulations, and the
  sensing op evaluates ``v = (Σ_b ω_b · bits_b) @ (Σ_tiles G · S)`` — bit-planes, row tiles
  and the scheme's column combination ``S`` folded — as one GEMM per window, the planes'
  weighted sum being one im2col of their weighted image;
- bits stay packed end to end (:mod:`.packed`): a comparator over pending reads writes its
  result as channel-last uint64 words (:class:`~.packed.PackedBits`) straight from the
  compiled AND-popcount kernel (:mod:`.popcount`), which sums each row's
  ``x · W[:, j] = lo_j·|x| + scale_j·Σ_t 2^t·|x & B_t[:, j]|`` over the weights' bit-planes
  ``B_t`` and applies the thresholds (less the complement constant) to the sums; a window
  gathers whole words (pads carrying each plane's pad-bit word), pooling ORs/ANDs words,
  channel concatenations and layout-preserving reshapes keep the words; bit-serial input
  planes add up with their weights in the same kernel;
- a read runs packed where its planes' words hold at most four bits per port
  (:data:`~.packed.POPCOUNT_ADVANTAGE`; an 8-plane RGB first layer stays in bytes) and once
  the kernels are loaded or its work repays loading them (:data:`~.packed.PACKED_MIN_MACS`);
  otherwise GEMMs run as onnxruntime ``MatMulInteger`` (uint8 × int8 → int32, exact) once a
  read has done enough work to repay a session, else float32 ``sgemm`` (exact below 2**24;
  see :class:`~.gemm.IntegerGemm`). Every engine gives the same integers.

Any other consumer of a deferred value gets exactly the array the interpreter holds.

Without an observer, or with one that watches only ops no fusion hides (the Monte Carlo's
watches the comparators and the return; :data:`~.driver.Observer`), the integer path's plan
fuses what the program fixes (made once per function, kept until an IR is edited,
:func:`bnnc.ir.edit_count`): each sensing op runs in one
step with its tiles' array reads, proven-exact ADCs and accumulations (their slices left out),
and a ``bnn.sign`` that only feeds ``xbar.planes`` writes the planes' packed words directly; a
comparator that ran packed keeps its route to the kernel until an IR or a constant is edited
(:func:`bnnc.ir.constant_edit_count`).

Analog path (a :class:`DeviceModel`)
-------------------------------------
Every array read is kept as column currents (amperes)::

    I[n, b, p, j] = v_read · Σ_k ports[n, b, p, k] · G[k, j]

with ``G`` the array's per-cell conductances (siemens): ideally ``g_off`` for an off cell,
``g_on`` for an on cell and ``g_mid = (g_on + g_off) / 2`` for an on cell of a refcol reference
column (the array's last column); :attr:`DeviceModel.conductance` may replace them per array. With
:attr:`DeviceModel.wire_ohm` > 0 the currents are the array mesh's instead (IR drop,
:mod:`bnnc.backends.circuit`): ``I = v_read · ports @ T`` with the mesh's transfer matrix ``T``,
built once per array per call (exact nodal solve, or the series where its bound is under 1e-3
LSB); the worst ``|I − I_ideal|`` of each array, in LSB, is kept in
``DeviceSession.ir_drop_error_lsb``.
With ``d`` the number of driven rows of a read (ports at V_read), ``I_base = d · g_off · v_read``
is its all-off current and ``ΔG = g_on − g_off`` the ideal on/off step.

- ADC (``xbar.adc``; implicitly, without saturation, where an untiled program's readout or
  multi-plane comparison reads currents): ``count = round((I − I_base) / (v_read · s_j))``,
  saturating at ``[0, 2**bits − 1]``, where
  ``s_j = ΔG`` for a data column and ``g_mid − g_off = ΔG / 2`` for a reference column (its ADC
  is calibrated to its own cells, so it reports the driven-row count ``c_ref`` that the integer
  model means).
- Comparator (``xbar.compare`` reading one offset-encoded plane straight from ``xbar.mvm``):
  the sensed current ``S`` and the current of one step of the integer raw value ``u`` are

  ============  ==========================================  ======================
  scheme        sensed current ``S``                        ``u`` (per raw unit)
  ============  ==========================================  ======================
  ``refcol``    ``I_j − I_ref`` (reference column current)  ``v_read · ΔG / 2``
  ``xnor``      ``I_j − I_base`` (the popcount current)     ``v_read · ΔG``
  ``diff``      ``I⁺_j − I⁻_j``                             ``v_read · ΔG``
  ============  ==========================================  ======================

  Ideally ``S = u · raw`` (``raw = 2c_j − c_ref``, ``c_j`` or ``c⁺ − c⁻``) and ``v = ω · raw``
  (``ω = 2``, the offset plane weight), so ``v ≥ T ⇔ raw ≥ r`` with ``r = ceil(T / ω)``. The
  comparator fires when ``S ≥ I_T + offset_j`` with the threshold current
  ``I_T = (r − 1/2) · u`` — half a step below the integer threshold, so that the ideal device
  gives exactly the integer results — and ``offset_j`` from
  :attr:`DeviceModel.comparator_offset`. Two levels give ``p = [S ≥ I_T1 + offset]`` and
  ``n = [S < I_T0 + offset]``. (xnor drives every valid tap, ``x̃`` or ``1 − x̃``, so its
  ``I_base + I_T`` is a fixed reference current per window class.)
- A comparator behind an ADC (row tiles or bit-planes summed digitally) is digital: it compares
  the accumulated counts exactly and has no offset.

Modules
-------
- :mod:`.driver`: :func:`simulate`, chunks, the cached execution plan and its fusions, the kernel registry;
- :mod:`.device`: the device model, column currents, the hooks' results, analog comparators;
- :mod:`.integer_chips`, :mod:`.cells`: a chip whose device is integer-representable (stuck
  cells, comparator offsets, threshold shifts, spares) run exactly on the integer path with its
  own cell counts (``simulate(cells=...)``), giving the analog path's results;
- :mod:`.deferred`: port matrices, pending reads and their fusion into one GEMM per window;
- :mod:`.gemm`: the exact byte GEMM engines;
- :mod:`.packed`: packed bits, packed windows and weights, the packed engine's choice;
- :mod:`.popcount`: the compiled AND-popcount kernels (numba, cached on disk);
- :mod:`.word_ops`: compiled pooling and concatenation of packed words (once the kernels are loaded);
- :mod:`.windows`: batched im2col, valid ports, pooling reductions;
- :mod:`.caches`: what is derived from constants, keyed by symbol and version;
- :mod:`.bnn`, :mod:`.xbar`, :mod:`.host`: the kernels of each dialect;
- :mod:`.errors`: :class:`SimulatorError`.
"""

from . import bnn, host, xbar  # noqa: F401  (registers each dialect's kernels)
from .device import ColumnCurrents, DeviceModel
from .driver import simulate, simulated_ops
from .errors import SimulatorError

__all__ = ["ColumnCurrents", "DeviceModel", "SimulatorError", "simulate", "simulated_ops"]
