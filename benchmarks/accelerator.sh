#!/usr/bin/env bash
# One prepared run of analogsim's quick tests and every benchmark on an accelerator machine
# (written for one NVIDIA H200, 16 CPU cores, no network), in under 8 minutes of wall time.
#
#   benchmarks/accelerator.sh                           # from the repository root
#   OUT=/some/dir benchmarks/accelerator.sh             # results there, else benchmarks/accelerator_out/
#   JAX_PLATFORMS=cpu ACCEL_QUICK=1 nice -n 19 benchmarks/accelerator.sh    # CPU dry run, a few minutes
#
# Steps, each under its own `timeout` and all under one deadline (ACCEL_TOTAL_S, default 470 s),
# so the whole run cannot pass ~8 minutes; a step that fails or times out is recorded and the
# next one runs:
#   preflight  nvidia-smi, date (UTC), git commit, python/jax/jaxlib versions, jax.devices(),
#              which of the project's imports fail, whether JAX's default backend is "gpu"
#   tests      pytest -m "not slow" on a subset of test files (ACCEL_TESTS to choose; the files
#              that assume 8 forced CPU devices, mkdocs or minutes-long examples are left out)
#   forward, training, sweep, crossbar, scale, models, model_training
#              benchmarks/bench_*.py with reduced repeats/sizes, each --json OUT/NAME_gpu.json
#   extras     only with time left over (ACCEL_EXTRAS=0 to skip): bench_scale's 1000-chip memory
#              probe, and bench_scale over 1/2/4/8 forced CPU devices of the host (JAX_PLATFORMS=cpu)
# Output: OUT/accelerator.json (machine, versions, per-step status, seconds, each benchmark's JSON
# path and its results inlined), OUT/STEP.log per step, OUT/NAME_gpu.json per benchmark (named
# NAME_<backend>-dryrun.json when JAX's backend is not the GPU). With ACCEL_PACK=1 (the default
# when $OUT is set, as the device runner sets it; it returns at most 8 files) the logs and
# benchmark JSONs are packed into OUT/accelerator_files.tar.gz, beside accelerator.json.
#
# Python: .venv/bin/python if it imports jax, else `python`, else `python3`; the repository root
# goes first on PYTHONPATH, so an uninstalled checkout runs. Wheels in ACCEL_WHEELS (default
# .whl/) are installed offline (pip --no-index --no-deps --target) first, for packages the
# machine lacks (on the H200 image: quax, plum-dispatch, beartype, zarr, numcodecs, donfig,
# google-crc32c, h5netcdf and, for zarr 3.4, msgspec). Fetch them here for CPython 3.12 with
# `pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
# --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl NAMES`.
# Knobs: ACCEL_QUICK=1 (minimum sizes), ACCEL_TOTAL_S, ACCEL_TESTS="tests/a.py tests/b.py" or
# "all", ACCEL_TEST_WORKERS, ACCEL_EXTRAS, ACCEL_PACK, ACCEL_WHEELS.
set -u

cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
OUT_DIR=${OUT:-benchmarks/accelerator_out}
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR=$(cd "$OUT_DIR" && pwd)
QUICK=${ACCEL_QUICK:-0}
TOTAL=${ACCEL_TOTAL_S:-470}
RESERVE=8 # seconds kept for the summary
if [ -n "${OUT:-}" ]; then PACK=${ACCEL_PACK:-1}; else PACK=${ACCEL_PACK:-0}; fi
if [ "$QUICK" = 1 ]; then EXTRAS=${ACCEL_EXTRAS:-0}; else EXTRAS=${ACCEL_EXTRAS:-1}; fi
START=$EPOCHREALTIME
START_S=${START%.*}
DEADLINE=$((START_S + TOTAL))
STARTED_UTC=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STEPS=$OUT_DIR/steps.tsv

for f in accelerator.json accelerator_files.tar.gz steps.tsv nvidia-smi.csv machine.json; do
    rm -f "$OUT_DIR/$f"
done
for s in preflight wheels tests forward training sweep crossbar scale models model_training \
    scale_memory scale_hostcpu; do
    rm -f "$OUT_DIR/$s.log" "$OUT_DIR/${s}_gpu.json" "$OUT_DIR/${s}_"*-dryrun.json
done
: >"$STEPS"

export PYTHONUNBUFFERED=1
# Several processes share the GPU (pytest workers, bench_scale's child): no process takes 75% of
# its memory up front.
export XLA_PYTHON_CLIENT_PREALLOCATE=${XLA_PYTHON_CLIENT_PREALLOCATE:-false}
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

say() { printf '[accelerator %5ss] %s\n' "$(($(date +%s) - START_S))" "$*"; }

# run_step NAME BUDGET_S MIN_S JSON NOTE -- COMMAND...: run COMMAND under `timeout` (at most
# BUDGET_S plus BANK, what the steps before it left unused of theirs, and never past the
# deadline; skipped with under MIN_S left), its output in OUT/NAME.log, one line in steps.tsv.
# A step that ends early leaves the rest of its time in BANK for the next ones (EXTRAS steps
# take no bank: they run on what the deadline leaves).
BANK=0
run_step() {
    local name=$1 budget=$2 min=$3 json=$4 note=$5
    shift 6
    local now left limit allowance status rc t0 t1 seconds log=$OUT_DIR/$name.log
    now=$(date +%s)
    left=$((DEADLINE - RESERVE - now))
    allowance=$((budget + BANK))
    limit=$((allowance < left ? allowance : left))
    if [ "$limit" -lt "$min" ]; then
        say "$name: skipped (${left}s left of the ${TOTAL}s budget, needs ${min}s)"
        printf '%s\tskipped\t\t0\t0\t\t%s\t%s\t%s\n' "$name" "$json" \
            "skipped: ${left}s left of the ${TOTAL}s budget, needs ${min}s; $note" \
            "$(printf '%q ' "$@")" >>"$STEPS"
        return 0
    fi
    say "$name: starting (timeout ${limit}s): $*"
    t0=$EPOCHREALTIME
    {
        printf '# %s\n# timeout %ss, started %s\n' "$(printf '%q ' "$@")" "$limit" \
            "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
        timeout -s INT -k 5 "$limit" "$@"
    } >"$log" 2>&1
    rc=$?
    t1=$EPOCHREALTIME
    seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    BANK=$((limit - ${seconds%.*} - 1))
    [ "$BANK" -gt 0 ] || BANK=0
    case $rc in
        0) status=ok ;;
        124 | 137) status=timeout ;;
        *) status=failed ;;
    esac
    if [ "$status" = ok ] && [ -n "$json" ] && [ ! -s "$OUT_DIR/$json" ]; then
        status=failed
        note="no JSON written; $note"
    fi
    say "$name: $status (rc $rc, ${seconds}s)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$seconds" "$limit" \
        "$name.log" "$json" "$note" "$(printf '%q ' "$@")" >>"$STEPS"
    return 0
}

# --- the interpreter ------------------------------------------------------------------------
PY=""
for cand in "$ROOT/.venv/bin/python" python python3; do
    if command -v "$cand" >/dev/null 2>&1 && timeout 30 "$cand" -c 'import jax' >/dev/null 2>&1; then
        PY=$(command -v "$cand")
        break
    fi
done
if [ -z "$PY" ]; then
    PY=$(command -v python3 || command -v python || echo python3)
    say "no Python here imports jax; going on with $PY (steps will fail and be recorded)"
fi
say "python: $PY; output: $OUT_DIR"

# --- wheels carried for packages the machine lacks (offline) ---------------------------------
WHEELS=${ACCEL_WHEELS:-$ROOT/.whl}
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    SITE=${TMPDIR:-/tmp}/analogsim-accelerator-site
    run_step wheels 60 5 "" "offline install of $WHEELS/*.whl into $SITE" -- \
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" "$WHEELS"/*.whl
    BANK=0
    export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}"
fi

# --- 1, 2: the machine, the versions, the backend ---------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
        >"$OUT_DIR/nvidia-smi.csv" 2>&1 || echo "nvidia-smi failed (rc $?)" >>"$OUT_DIR/nvidia-smi.csv"
else
    echo "nvidia-smi: not found" >"$OUT_DIR/nvidia-smi.csv"
fi
run_step preflight 25 10 machine.json "versions, jax.devices(), the project's imports" -- \
    "$PY" - "$OUT_DIR/machine.json" <<'EOF'
import importlib, importlib.metadata as md, json, os, platform, sys, time

out = {"executable": sys.executable, "python": platform.python_version(),
       "platform": platform.platform(), "cpus": os.cpu_count()}
def version(name):
    try:
        return md.version(name)
    except Exception:
        return None
names = ["jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda12-pjrt", "jax-cuda13-plugin",
         "jax-cuda13-pjrt", "analogsim", "equinox", "optax", "quax", "plum-dispatch", "numpy",
         "scipy", "xarray", "zarr", "h5netcdf", "pytest", "pytest-xdist", "hypothesis"]
out["packages"] = {n: version(n) for n in names}
errors = {}
for m in ["jax", "analogsim", "device_models", "equinox", "optax", "quax", "zarr", "h5netcdf",
          "xarray", "scipy", "sklearn", "matplotlib", "tqdm", "pytest", "xdist", "hypothesis"]:
    try:
        importlib.import_module(m)
    except Exception as e:
        errors[m] = f"{type(e).__name__}: {e}"[:300]
out["import_errors"] = errors
try:
    import analogsim
    out["analogsim"] = analogsim.__version__
    out["analogsim_path"] = os.path.dirname(analogsim.__file__)
except Exception:
    pass
try:
    started = time.perf_counter()
    import jax, jaxlib
    import jax.numpy as jnp
    out["jax"], out["jaxlib"] = jax.__version__, jaxlib.__version__
    out["backend"] = jax.default_backend()
    out["devices"] = [str(d) for d in jax.devices()]
    out["device_kind"] = jax.devices()[0].device_kind
    out["device_count"] = jax.device_count()
    x = jnp.ones((1024, 1024), jnp.float32)
    out["matmul_ok"] = bool(float((x @ x)[0, 0]) == 1024.0)
    out["jax_start_s"] = round(time.perf_counter() - started, 2)
    try:
        stats = jax.devices()[0].memory_stats() or {}
        out["device_bytes_limit"] = stats.get("bytes_limit")
    except Exception:
        pass
except Exception as e:
    out["jax_error"] = f"{type(e).__name__}: {e}"[:1000]
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps(out, indent=1))
EOF
BACKEND=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("backend","none"))' \
    "$OUT_DIR/machine.json" 2>/dev/null || echo none)
if [ "$BACKEND" = gpu ]; then SUFFIX=gpu; else SUFFIX="${BACKEND}-dryrun"; fi
say "JAX backend: $BACKEND$([ "$BACKEND" = gpu ] || echo ' (not the GPU: a dry run)')"

# --- 3: the quick tests -------------------------------------------------------------------
# conftest.py appends --xla_force_host_platform_device_count=8 (CPU platform only; on a GPU
# host jax.devices() is the one GPU) and --xla_backend_optimization_level=0 (faster compiles;
# on the GPU it lowers the LLVM optimization of the kernels, which the tests do not time).
# JAX_PLATFORMS is left as the caller set it, so the tests run on the GPU by default.
EXCLUDED="tests/test_sharding.py: asserts jax.device_count()==8 (8 forced CPU devices), one GPU has 1;
tests/test_scale_out.py: slow, two jax.distributed processes over forced CPU devices;
tests/test_docs.py: builds the docs with mkdocs (not on the GPU image), no JAX numerics;
tests/test_examples.py: runs examples in subprocesses with forced CPU devices, minutes each"
if [ "$QUICK" = 1 ]; then
    TEST_BUDGET=75
    TESTS=${ACCEL_TESTS:-tests/test_noise.py tests/test_config.py tests/test_bad_input.py}
    WORKERS=${ACCEL_TEST_WORKERS:-2}
else
    # Physics and numerics, where a backend can differ; one file per worker (--dist loadfile).
    # On the H200 (2026-12-04) compiling dominates: 8 files took 125 s, and two of these
    # three did not finish in 75 s; the -v log keeps each test's outcome when time runs out.
    TEST_BUDGET=60
    TESTS=${ACCEL_TESTS:-tests/test_crossbar.py tests/test_analog_model.py \
tests/test_chip_physics.py}
    WORKERS=${ACCEL_TEST_WORKERS:-8}
fi
if [ "$TESTS" = all ]; then
    TESTS=$(ls tests/test_*.py | grep -v -e test_sharding.py -e test_scale_out.py \
        -e test_docs.py -e test_examples.py | tr '\n' ' ')
fi
TEST_FILES=()
for f in $TESTS; do [ -f "$f" ] && TEST_FILES+=("$f"); done
XDIST=()
if "$PY" -c 'import xdist' >/dev/null 2>&1; then
    XDIST=(-n "$WORKERS" --dist loadfile)
else
    WORKERS=0
fi
# -o addopts= drops pyproject's "-n auto" (16 workers on one GPU); -v names every test's outcome
# in the log, so the counts survive a timeout.
run_step tests "$TEST_BUDGET" 20 "" "pytest -m 'not slow' on ${#TEST_FILES[@]} files, $WORKERS workers" -- \
    "$PY" -m pytest -o addopts= -m "not slow" -v -rfE -p no:cacheprovider --maxfail=50 \
    "${XDIST[@]}" "${TEST_FILES[@]}"

# --- 4: the benchmarks ---------------------------------------------------------------------
B=benchmarks
if [ "$QUICK" = 1 ]; then
    FWD=(--repeats 1)
    TRN=(--rounds 1 --epochs 2 --repeats 1)
    SWP=(--repeats 1)
    XBR=(--sizes 32,64 --repeats 1 --scipy-max 64)
    SCL=(--chips 16 --repeats 1 --memory "")
    MDL=(--repeats 1 --batch 1)
    MTR=(--repeats 2)
    BUD=(70 60 45 30 60 70 60)
else
    # budgets from the H200 run of 2026-12-04: forward took 95 s at 5 repeats (40 s did not
    # finish its first case), models 85 s at 5, model_training did not finish in 110 s at 3
    FWD=(--repeats 5)
    TRN=(--rounds 2 --epochs 4 --repeats 5)
    SWP=(--repeats 3)
    XBR=(--sizes 64,256,1024 --repeats 2 --scipy-max 256) # 5 compiles a size
    SCL=(--chips 256 --repeats 3 --memory "")
    MDL=(--repeats 3 --batch 32)
    MTR=(--repeats 3)
    BUD=(90 35 35 40 25 70 100)
fi
# bench_sweep's recorded CPU figures compile at XLA's backend optimization level 1
# (benchmarks/README.md); on the GPU, XLA's defaults
SWEEP_ENV=()
[ "$BACKEND" = gpu ] || SWEEP_ENV=(env "XLA_FLAGS=${XLA_FLAGS:+$XLA_FLAGS }--xla_backend_optimization_level=1")

run_step forward "${BUD[0]}" 15 "forward_$SUFFIX.json" \
    "fleet256_digits runs max(5, repeats//3) repeats; its fleet on all JAX devices (one GPU)" -- \
    "$PY" "$B/bench_forward.py" "${FWD[@]}" --json "$OUT_DIR/forward_$SUFFIX.json"
run_step training "${BUD[1]}" 15 "training_$SUFFIX.json" \
    "digital epochs: max(5, repeats) a round; fleet32 on all JAX devices (one GPU)" -- \
    "$PY" "$B/bench_training.py" "${TRN[@]}" --json "$OUT_DIR/training_$SUFFIX.json"
run_step sweep "${BUD[2]}" 15 "sweep_$SUFFIX.json" "7 x 64 chips against one call over 448" -- \
    "${SWEEP_ENV[@]}" "$PY" "$B/bench_sweep.py" "${SWP[@]}" --json "$OUT_DIR/sweep_$SUFFIX.json"
run_step crossbar "${BUD[3]}" 15 "crossbar_$SUFFIX.json" \
    "scipy (host CPU, one BLAS thread) only up to --scipy-max" -- \
    env OPENBLAS_NUM_THREADS=1 "$PY" "$B/bench_crossbar.py" "${XBR[@]}" \
    --json "$OUT_DIR/crossbar_$SUFFIX.json"
run_step scale "${BUD[4]}" 15 "scale_$SUFFIX.json" \
    "throughput only (--memory ''); device counts 1,2,4,8 up to jax.device_count(): on one GPU only 1" -- \
    "$PY" "$B/bench_scale.py" "${SCL[@]}" --json "$OUT_DIR/scale_$SUFFIX.json"
run_step models "${BUD[5]}" 15 "models_$SUFFIX.json" "10.8M-weight transformer, one PCM chip" -- \
    "$PY" "$B/bench_models.py" "${MDL[@]}" --json "$OUT_DIR/models_$SUFFIX.json"
run_step model_training "${BUD[6]}" 15 "model_training_$SUFFIX.json" \
    "a training step of the shipped transformer: digital, hardware-aware, in-situ" -- \
    "$PY" "$B/bench_model_training.py" "${MTR[@]}" --json "$OUT_DIR/model_training_$SUFFIX.json"

# --- extras, with the time left -----------------------------------------------------------
BANK=0
if [ "$EXTRAS" = 1 ]; then
    if [ "$BACKEND" = gpu ]; then
        run_step scale_hostcpu 75 45 scale_hostcpu.json \
            "bench_scale on the host CPU (JAX_PLATFORMS=cpu): 1/2/4/8 forced devices on 16 cores, the baseline for the GPU row" -- \
            env JAX_PLATFORMS=cpu "$PY" "$B/bench_scale.py" --chips 256 --repeats 3 --memory "" \
            --json "$OUT_DIR/scale_hostcpu.json"
    fi
    run_step scale_memory 90 45 "scale_memory_$SUFFIX.json" \
        "analogsim simulate --chips 1000 --devices 1 in a child: its host peak RSS (not GPU memory) and wall time" -- \
        "$PY" "$B/bench_scale.py" --chips 16 --repeats 1 --memory 1000 \
        --json "$OUT_DIR/scale_memory_$SUFFIX.json"
fi

# --- 5: the summary -----------------------------------------------------------------------
export ACCEL_OUT_DIR=$OUT_DIR ACCEL_STARTED_UTC=$STARTED_UTC ACCEL_START=$START ACCEL_PY=$PY \
    ACCEL_BACKEND=$BACKEND ACCEL_QUICK_=$QUICK ACCEL_TOTAL=$TOTAL ACCEL_EXCLUDED=$EXCLUDED \
    ACCEL_TEST_FILES="${TEST_FILES[*]}" ACCEL_WORKERS=$WORKERS ACCEL_PACK_=$PACK
SUMMARY_PY=$PY
"$SUMMARY_PY" -c 'import json' 2>/dev/null || SUMMARY_PY=$(command -v python3 || command -v python)
"$SUMMARY_PY" - <<'EOF'
import datetime, json, os, re, socket, subprocess, time

e = os.environ
out_dir = e["ACCEL_OUT_DIR"]
path = lambda name: os.path.join(out_dir, name)

def read(name):
    try:
        with open(path(name), errors="replace") as f:
            return f.read()
    except OSError:
        return None

def git(*args):
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""

smi = (read("nvidia-smi.csv") or "").strip()
smi_rows = []
lines = smi.splitlines()
if len(lines) > 1 and "," in lines[0]:
    head = [h.strip() for h in lines[0].split(",")]
    smi_rows = [dict(zip(head, (v.strip() for v in l.split(",")))) for l in lines[1:] if l.strip()]
try:
    python = json.loads(read("machine.json") or "{}")
except ValueError:
    python = {}
backend = e["ACCEL_BACKEND"]
gpu = backend == "gpu"

steps = []
for line in (read("steps.tsv") or "").splitlines():
    name, status, rc, seconds, limit, log, js, note, command = (line.split("\t") + [""] * 9)[:9]
    step = {"name": name, "status": status, "rc": int(rc) if rc else None,
            "seconds": float(seconds or 0), "timeout_s": int(limit or 0),
            "log": log or None, "json": js or None, "note": note, "command": command.strip()}
    if js and status != "skipped" and name != "preflight":
        try:
            step["record"] = json.loads(read(js))
        except (TypeError, ValueError):
            step["record"] = None
    if status in ("failed", "timeout") and log:
        step["log_tail"] = (read(log) or "").splitlines()[-25:]
    steps.append(step)
by_name = {s["name"]: s for s in steps}

tests = {"files": e["ACCEL_TEST_FILES"].split(), "workers": int(e["ACCEL_WORKERS"] or 0),
         "excluded": dict(l.rstrip(";").split(": ", 1) for l in e["ACCEL_EXCLUDED"].splitlines())}
log = read("tests.log") or ""
summary = [l.strip("= ").strip() for l in log.splitlines()
           if re.search(r"\b\d+ (passed|failed|errors?|skipped)\b.* in [\d.]+s", l)
           or re.search(r"no tests ran in", l)]
tests["summary_line"] = summary[-1] if summary else None
counts = {}
if summary:
    for n, what in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)", summary[-1]):
        counts["errors" if what == "error" else what] = int(n)
    tests["counts_from"] = "pytest summary line"
else:  # killed before pytest summed up: count the -v outcome lines
    for what in ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS"):
        # "[gw0] [ 5%] PASSED tests/a.py::t" (xdist) or "tests/a.py::t PASSED [ 5%]"
        n = len(re.findall(rf"(?:\b{what} tests/\S+::|tests/\S+::\S+ {what}\b)", log))
        if n:
            counts[what.lower()] = n
    tests["counts_from"] = "per-test lines of the log (no summary line)"
tests["counts"] = counts
tests["failed"] = sorted(set(re.findall(r"\b(?:FAILED|ERROR) (tests/\S+)", log)))[:50]
tests["status"] = by_name.get("tests", {}).get("status")

benchmarks = {}
for s in steps:
    if s["json"] and s["name"] not in ("preflight",):
        rec = s.get("record")
        benchmarks[s["name"]] = {"status": s["status"], "seconds": s["seconds"],
                                 "json": path(s["json"]),
                                 "results": rec.get("results") if isinstance(rec, dict) else None}

notes = {
    "bench_scale.py": "splits a fleet over 1, 2, 4, 8 devices; it forces 8 host CPU devices via "
    "XLA_FLAGS, which do not apply to the GPU platform, so on one GPU it measures the 1-device row "
    "only (counts are those <= jax.device_count()). Its 1/2/4/8 comparison runs as the extra "
    "step scale_hostcpu on the host's CPU when time is left. Its memory probe measures the "
    "child's host peak RSS, not GPU memory.",
    "bench_forward.py, bench_training.py": "call use_cpu_cores() (CPU device count only); their "
    "fleets go over all JAX devices, i.e. the one GPU",
    "transfer_ablation.py": "not run: eight full transfer runs (minutes each on a CPU), over the budget",
    "dieharder.sh": "not run: needs the dieharder binary (not on the GPU image, no network) and "
    "tests the generator's bits on the CPU (JAX_PLATFORMS=cpu) by design",
}
started = float(e["ACCEL_START"])
result = {
    "script": "benchmarks/accelerator.sh",
    "quick": e["ACCEL_QUICK_"] == "1",
    "started_utc": e["ACCEL_STARTED_UTC"],
    "finished_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "total_seconds": round(time.time() - started, 1),
    "budget_seconds": int(e["ACCEL_TOTAL"]),
    "gpu_visible": gpu,
    "backend": backend,
    "warning": None if gpu else f"JAX's default backend is {backend!r}, not 'gpu': this was a "
    "dry run, the figures are not GPU figures",
    "machine": {"hostname": socket.gethostname(), "cpus": os.cpu_count(),
                "nvidia_smi": smi_rows or None, "nvidia_smi_raw": smi or None},
    "git": {"commit": git("rev-parse", "HEAD") or None,
            "changed_files": len(git("status", "--porcelain").splitlines())},
    "python": python,
    "environment": {k: e.get(k) for k in ("JAX_PLATFORMS", "XLA_FLAGS",
                    "XLA_PYTHON_CLIENT_PREALLOCATE", "PYTHONPATH", "ANALOGSIM_DEVICES")},
    "interpreter": e["ACCEL_PY"],
    "out_dir": out_dir,
    "steps": steps,
    "tests": tests,
    "benchmarks": benchmarks,
    "notes": notes,
    "packed": "accelerator_files.tar.gz" if e["ACCEL_PACK_"] == "1" else None,
}
with open(path("accelerator.json"), "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
print(f"\n{'step':<15}{'status':<9}{'seconds':>9}{'timeout':>9}  json")
for s in steps:
    print(f"{s['name']:<15}{s['status']:<9}{s['seconds']:>9.1f}{s['timeout_s']:>9}  {s['json'] or ''}")
print(f"tests: {tests['summary_line'] or counts}")
print(f"backend {backend}; total {result['total_seconds']} s of {result['budget_seconds']} s; "
      f"{path('accelerator.json')}")
EOF

if [ "$PACK" = 1 ]; then
    (
        cd "$OUT_DIR" || exit 1
        files=$(ls -A | grep -v -x -e accelerator.json -e accelerator_files.tar.gz)
        # shellcheck disable=SC2086
        [ -n "$files" ] && tar czf accelerator_files.tar.gz $files && rm -f $files
    )
    say "packed the logs and benchmark JSONs into $OUT_DIR/accelerator_files.tar.gz"
fi
say "done"
