"""Slurm job scripts: rendered scripts equal the golden files in tests/data/slurm_golden/.

Every golden file is also checked with ``bash -n``. To regenerate them after an intended
template change, run ``JFFS_UPDATE_GOLDEN=1 python -m pytest -q tests/test_slurm_render.py``,
then review ``git diff tests/data/slurm_golden`` (tests/data/slurm_golden/README.md lists the cases).

The launcher rule (``--launcher auto``) is tested with stand-in ``srun``/``mpiexec`` programs
that print what the real ones print (``srun --mpi=list`` of Slurm 22.05 and 23.x,
``mpiexec --version`` of MPICH's hydra and Open MPI); the real ones are probed in
``tests/test_slurm_cluster.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from jffs_driver.cli import main
from jffs_driver.errors import EnvironmentSetupError, UsageError
from jffs_driver.parallel.slurm import SbatchSettings, default_mpiexec, parse_slurm_time, render_sbatch
from jffs_driver.parallel.slurm_launch import mpi_family, resolve_launcher, srun_plugins

pytestmark = pytest.mark.quick

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "slurm_golden"
PY = "/opt/jffs/bin/python"
MPIEXEC = "/opt/jffs/bin/mpiexec"

SRUN_LIST_22 = "MPI plugin types are...\n\tnone\n\tcray_shasta\n\tpmi2\n\tpmix\nspecific pmix plugin versions available: pmix_v4\n"
SRUN_LIST_PMIX_ONLY = "srun: MPI types are...\nsrun: none\nsrun: pmix_v4\n"
HYDRA_VERSION = "HYDRA build details:\n    Version:                                 4.1.2\n"
OMPI_VERSION = "mpiexec (OpenRTE) 4.1.4\n\nReport bugs to http://www.open-mpi.org/community/help/\n"


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("JFFS_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"rendered script differs from {path} (JFFS_UPDATE_GOLDEN=1 rewrites it)"
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)  # valid shell


def _settings(**changes: object) -> SbatchSettings:
    base: dict[str, object] = dict(
        campaigns=(Path("/home/alice/runs/membrane.toml"),), workdir=Path("/home/alice/runs"),
        job_name="membrane", groups=4, ranks_per_trial=2, nodes=1, time="2-00:00:00", signal_lead_s=300,
        output="membrane-%j.out", python=PY, mpiexec=MPIEXEC)
    base.update(changes)
    return SbatchSettings(**base)  # type: ignore[arg-type]


def test_single_node_mpiexec() -> None:
    s = _settings(partition="compute", account="chem", extra=("--mem-per-cpu=2G",))
    assert s.ntasks == 9
    _check_golden("single_node_mpiexec.sh", render_sbatch(s, drain_s=60))


def test_single_node_srun_with_overcommit() -> None:
    s = _settings(campaigns=(Path("/scratch/my runs/toy.toml"),), workdir=Path("/scratch/my runs"),
                  job_name="toy", groups=2, ranks_per_trial=1, time="10", signal_lead_s=90, output="toy-%j.out",
                  launcher="srun", overcommit=True, max_requeues=3)
    _check_golden("single_node_srun.sh", render_sbatch(s, drain_s=60))


def test_multi_node_srun_with_site_pmix() -> None:
    # 4 nodes x 32 cores: 1 coordinator + 31 groups x 4 ranks = 125 ranks.
    s = _settings(nodes=4, groups=31, ranks_per_trial=4, launcher="srun", srun_mpi="pmix",
                  python="/apps/venvs/jffs/bin/python", launcher_reason="auto: Open MPI speaks pmix, srun offers pmix")
    assert s.ntasks == 125
    text = render_sbatch(s, drain_s=60)
    _check_golden("multi_node_srun.sh", text)
    assert "#SBATCH --nodes=4\n#SBATCH --ntasks=125\n" in text
    assert "\nsrun --mpi=pmix --kill-on-bad-exit=1 -n 125 /apps/venvs/jffs/bin/python -m jffs_driver run" in text


def test_multi_node_mpiexec() -> None:
    s = _settings(nodes=2, groups=16, ranks_per_trial=2, mpiexec="/usr/bin/mpiexec",
                  launcher_reason="auto: Open MPI mpiexec, srun offers no pmix (none, pmi2)")
    text = render_sbatch(s, drain_s=60)
    _check_golden("multi_node_mpiexec.sh", text)
    assert "#SBATCH --nodes=2\n#SBATCH --ntasks=33\n" in text and "\n/usr/bin/mpiexec -n 33 " in text


def test_array_of_campaigns() -> None:
    camps = (Path("/home/alice/runs/a/membrane.toml"), Path("/home/alice/runs/b c/membrane.toml"),
             Path("/home/alice/runs/c/membrane.toml"))
    s = _settings(campaigns=camps, job_name="sweep", output="sweep-%A_%a.out", array=True, array_limit=2,
                  groups=2, launcher="srun", srun_mpi=None, launcher_reason="auto: no mpiexec")
    text = render_sbatch(s, drain_s=60)
    _check_golden("array.sh", text)
    assert "#SBATCH --array=0-2%2\n" in text and '-m jffs_driver run "$campaign" &' in text
    assert "#SBATCH --output=sweep-%A_%a.out\n" in text


@pytest.mark.parametrize("task, expected", [(0, "a/x.toml"), (1, "b c/x.toml"), (2, None)])
def test_array_script_picks_each_tasks_campaign(tmp_path: Path, task: int, expected: Optional[str]) -> None:
    """Run the rendered array script with bash: task i runs campaign i from its directory."""
    camps = [tmp_path / "a" / "x.toml", tmp_path / "b c" / "x.toml"]
    for c in camps:
        c.parent.mkdir()
    launcher = tmp_path / "fake-mpiexec"  # records where and on what it was started, exits 0
    launcher.write_text('#!/bin/bash\necho "cwd=$PWD args=$*" >> "$LOG"\n')
    launcher.chmod(0o755)
    s = _settings(campaigns=tuple(camps), workdir=tmp_path, job_name="sweep", array=True,
                  mpiexec=str(launcher), groups=1, ranks_per_trial=1)
    script = tmp_path / "job.sh"
    script.write_text(render_sbatch(s, drain_s=60))
    env = {**os.environ, "LOG": str(tmp_path / "log"), "SLURM_ARRAY_TASK_ID": str(task),
           "SLURM_ARRAY_JOB_ID": "7", "SLURM_JOB_ID": "9"}
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    if expected is None:  # an index past the list: exit 2, nothing launched
        assert proc.returncode == 2 and "has no campaign (2 listed)" in proc.stdout
        assert not (tmp_path / "log").exists()
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr
    camp = tmp_path / expected
    assert (tmp_path / "log").read_text() == f"cwd={camp.parent} args=-n 2 {PY} -m jffs_driver run {camp}\n"
    assert f"array task 7_{task}: campaign {camp}" in proc.stdout


def test_custom_template_without_select_campaign_is_refused_for_arrays(tmp_path: Path) -> None:
    old = tmp_path / "old.sbatch"
    old.write_text("#!/bin/bash\ncd ${workdir}\n${launch}\n")
    single = render_sbatch(_settings(), template=old, drain_s=60)  # still fine for one campaign
    assert single.endswith("-m jffs_driver run /home/alice/runs/membrane.toml\n")
    with pytest.raises(UsageError, match=r"--template .*select_campaign"):
        render_sbatch(_settings(campaigns=(Path("/a.toml"), Path("/b.toml")), array=True), template=old, drain_s=60)


def test_settings_that_cannot_work_are_reported_together() -> None:
    bad = _settings(job_name="bad name", groups=0, ranks_per_trial=1, time="1", signal_lead_s=60,
                    campaigns=(Path("/x/a.toml"), Path("/x/a.toml")))
    with pytest.raises(UsageError) as info:
        render_sbatch(bad, drain_s=60)
    text = str(info.value)
    for part in ("at least 1 engine group", "shorter than the time limit", "must exceed [parallel] drain_s",
                 "job name 'bad name'", "2 campaign files: one job runs one campaign (use --array)",
                 "listed twice: /x/a.toml"):
        assert part in text, part
    with pytest.raises(UsageError, match="nodes = 3 exceeds the 2 MPI ranks"):
        render_sbatch(_settings(nodes=3, groups=1, ranks_per_trial=1), drain_s=60)


@pytest.mark.parametrize("text, seconds", [
    ("90", 5400), ("10:30", 630), ("01:00:00", 3600), ("2-00:00:00", 172800), ("1-12", 129600), ("1-0:30", 88200),
])
def test_slurm_time_syntax(text: str, seconds: int) -> None:
    assert parse_slurm_time(text) == seconds
    with pytest.raises(UsageError):
        parse_slurm_time("1h")


# --- the launcher rule --------------------------------------------------------------------------

def _fake_bin(tmp_path: Path, srun: Optional[str] = None, mpiexec: Optional[str] = None,
              srun_fails: bool = False) -> Path:
    """A bin directory with stand-ins printing the given ``--mpi=list`` / ``--version`` text."""
    d = tmp_path / "bin"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in (("srun", srun), ("mpiexec", mpiexec)):
        if text is None:
            continue
        (d / f"{name}.txt").write_text(text)
        code = 1 if (name == "srun" and srun_fails) else 0
        (d / name).write_text(f"#!/bin/sh\ncat '{d / name}.txt'\nexit {code}\n")
        (d / name).chmod((d / name).stat().st_mode | stat.S_IEXEC)
    return d


def _which(d: Path):  # type: ignore[no-untyped-def]
    return lambda name: shutil.which(name, path=str(d))


def test_the_real_pip_mpich_is_recognised() -> None:
    assert mpi_family(default_mpiexec()) == "mpich"


@pytest.mark.parametrize("srun, mpiexec, srun_fails, launcher, plugin, why", [
    (SRUN_LIST_22, HYDRA_VERSION, False, "srun", "pmi2", "MPICH speaks pmi2, srun offers pmi2"),
    (SRUN_LIST_22, OMPI_VERSION, False, "srun", "pmix", "Open MPI speaks pmix, srun offers pmix"),
    (SRUN_LIST_PMIX_ONLY, OMPI_VERSION, False, "srun", "pmix_v4", "srun offers pmix_v4"),
    (SRUN_LIST_PMIX_ONLY, HYDRA_VERSION, False, "mpiexec", None, "srun offers no pmi2 (none, pmix_v4)"),
    (SRUN_LIST_22, HYDRA_VERSION, True, "mpiexec", None, "srun --mpi=list gave no answer"),
    (None, OMPI_VERSION, False, "mpiexec", None, "no srun on PATH"),
    (SRUN_LIST_22, "Intel(R) MPI Library for Linux* OS, Version 2021.9\n", False, "mpiexec", None,
     "Intel MPI has no PMI srun can serve"),
    (SRUN_LIST_22, None, False, "srun", None, "srun with the cluster's MpiDefault"),
])
def test_auto_launcher_rule(tmp_path: Path, srun: Optional[str], mpiexec: Optional[str], srun_fails: bool,
                            launcher: str, plugin: Optional[str], why: str) -> None:
    d = _fake_bin(tmp_path, srun, mpiexec, srun_fails)
    choice = resolve_launcher("auto", "mpiexec", which=_which(d))
    assert (choice.launcher, choice.srun_mpi) == (launcher, plugin)
    assert why in choice.reason and choice.reason.startswith("auto:")
    if launcher == "mpiexec":
        assert choice.mpiexec == str(d / "mpiexec")


def test_srun_list_parsing_of_both_formats(tmp_path: Path) -> None:
    d = _fake_bin(tmp_path, SRUN_LIST_22)
    assert srun_plugins(str(d / "srun")) == ("none", "cray_shasta", "pmi2", "pmix", "pmix_v4")
    d2 = _fake_bin(tmp_path / "other", SRUN_LIST_PMIX_ONLY)
    assert srun_plugins(str(d2 / "srun")) == ("none", "pmix_v4")


def test_explicit_launchers_are_checked(tmp_path: Path) -> None:
    d = _fake_bin(tmp_path, SRUN_LIST_22, HYDRA_VERSION)
    assert resolve_launcher("srun", "mpiexec", "pmix", which=_which(d)).srun_mpi == "pmix"
    assert resolve_launcher("srun", "mpiexec", "default", which=_which(d)).srun_mpi is None
    assert resolve_launcher("auto", "mpiexec", "pmix", which=_which(d)).launcher == "srun"
    with pytest.raises(EnvironmentSetupError, match=r"--srun-mpi pmi1: srun offers none, cray_shasta, pmi2"):
        resolve_launcher("srun", "mpiexec", "pmi1", which=_which(d))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(EnvironmentSetupError, match="--launcher srun: srun not found"):
        resolve_launcher("srun", "mpiexec", which=_which(empty))
    with pytest.raises(EnvironmentSetupError, match="--launcher mpiexec: /no/mpiexec not found"):
        resolve_launcher("mpiexec", "/no/mpiexec", which=_which(d))
    with pytest.raises(EnvironmentSetupError, match="--launcher auto: neither srun nor mpiexec"):
        resolve_launcher("auto", "mpiexec", which=_which(empty))


# --- the command line ---------------------------------------------------------------------------

def _jffs(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``jffs ARGV`` in this process (as the fuzz test does): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.chdir(cwd):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def campaigns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two toy campaigns with their own stores, a fake sbatch that logs its calls, fake launchers."""
    text = (DATA / "toy_chain.toml").read_text()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "toy.toml").write_text(text)
    (tmp_path / "same_store.toml").write_text(text.replace('store = "toy.jffs"', 'store = "a/toy.jffs"'))
    d = _fake_bin(tmp_path, SRUN_LIST_22, HYDRA_VERSION)
    (d / "sbatch").write_text(f"#!/bin/sh\necho \"$@\" >> '{tmp_path}/sbatch_calls'\necho 4242\n")
    (d / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:{os.environ['PATH']}")
    return tmp_path


def test_cli_dry_run_prints_the_script_and_writes_nothing(campaigns: Path) -> None:
    code, out, err = _jffs(["submit", "a/toy.toml", "--dry-run", "--groups", "2", "--time", "00:30:00",
                            "--python", PY, "--nodes", "2"], campaigns)
    assert code == 0, err
    assert not (campaigns / "sbatch_calls").exists() and not list(campaigns.rglob("*.sbatch"))
    # auto with MPICH + an srun that offers pmi2 -> srun --mpi=pmi2
    _check_golden("cli_dry_run.sh", out.replace(str(campaigns), "/CAMPAIGN_DIR"))


def test_cli_array_submits_one_script_with_a_task_per_campaign(campaigns: Path) -> None:
    (campaigns / "b" / "toy.toml").write_text((campaigns / "b" / "toy.toml").read_text()
                                               .replace('name = "toy"', 'name = "toy-b"'))
    listing = campaigns / "sweep.txt"
    listing.write_text("# two toys\na/toy.toml\n\nb/toy.toml  # the second\n")
    code, out, err = _jffs(["submit", "--list", str(listing), "--launcher", "mpiexec", "--array-limit", "1"], campaigns)
    assert code == 0, err
    script = campaigns / "sweep.sbatch"
    assert (campaigns / "sbatch_calls").read_text().split() == ["--parsable", str(script)]
    text = script.read_text()
    assert "#SBATCH --array=0-1%1\n" in text and "#SBATCH --output=sweep-%A_%a.out\n" in text
    assert f"    {campaigns}/a/toy.toml  # 0\n    {campaigns}/b/toy.toml  # 1\n" in text
    assert f"4242_1: {campaigns}/b/toy.toml; output: {campaigns}/sweep-4242_1.out" in out


@pytest.mark.parametrize("argv, code, message", [
    (["a/toy.toml", "nope.toml", "--array"], 2, "campaign file(s) not found: nope.toml (CAMPAIGN argument 2)"),
    (["--list", "list.txt"], 2, "list.txt line 2)"),
    (["a/toy.toml", "b/toy.toml"], 2, "pass --array"),
    (["a/toy.toml", "same_store.toml", "--array"], 2, "write the same store"),
    (["a/toy.toml", "a/../a/toy.toml", "--array"], 2, "listed twice"),
    (["a/toy.toml", "--nodes", "0"], 2, "'--nodes'"),
    (["a/toy.toml", "--groups", "1", "--nodes", "3"], 2, "nodes = 3 exceeds the 2 MPI ranks"),
    (["a/toy.toml", "--array-limit", "2"], 2, "--array-limit applies to job arrays only"),
    (["a/toy.toml", "--launcher", "mpiexec", "--mpiexec", "/no/such/mpiexec"], 3, "--launcher mpiexec"),
    (["a/toy.toml", "--launcher", "srun", "--srun-mpi", "pmix_v9"], 3, "--srun-mpi pmix_v9"),
    ([], 2, "no campaign file given"),
])
def test_cli_bad_input_exits_with_a_message_and_submits_nothing(campaigns: Path, argv: list[str], code: int,
                                                                message: str) -> None:
    (campaigns / "list.txt").write_text("a/toy.toml\nmissing/toy.toml\n")
    got, out, err = _jffs(["submit", *argv], campaigns)
    assert got == code and message in err, (got, err)
    assert "Traceback" not in err
    assert not (campaigns / "sbatch_calls").exists() and not list(campaigns.rglob("*.sbatch"))


def test_cli_launcher_not_installed(campaigns: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    got, _out, err = _jffs(["submit", "a/toy.toml", "--launcher", "srun", "--dry-run"], campaigns)
    assert got == 3 and "--launcher srun: srun not found on PATH" in err


GPU_CAMPAIGN = """\
[campaign]
name = "gpu"
seed = 1
[model]
type = "membrane"
system = "system"
accelerator = "gpu"
gpus_per_group = %d
[interfaces]
lambda_a = -1.5
lambda_0 = -1.0
lambda_b = 7.0
[basin]
steps_per_run = 1000
[parallel]
ranks_per_trial = %d
"""


@pytest.mark.parametrize("per_group, rpt, groups, nodes, extra, want", [
    (1, 1, 8, 1, [], 8),          # 8 groups on one node: 8 GPUs
    (1, 1, 7, 2, [], 4),          # 8 ranks over 2 nodes: at most 4 groups on a node
    (2, 2, 4, 2, [], 6),          # 9 ranks, 5 per node: at most 3 two-rank groups (one straddles)
    (1, 1, 8, 1, ["--gpus-per-node", "2"], 2),   # explicit: groups share (CUDA MPS)
    (1, 1, 8, 1, ["--gpus-per-node", "0"], None),  # explicit: no GPU request
])
def test_cli_requests_a_gpu_per_engine_group_for_accelerated_campaigns(
        campaigns: Path, per_group: int, rpt: int, groups: int, nodes: int, extra: list, want: Optional[int]) -> None:
    (campaigns / "gpu.toml").write_text(GPU_CAMPAIGN % (per_group, rpt))
    code, out, err = _jffs(["submit", "gpu.toml", "--dry-run", "--groups", str(groups), "--nodes", str(nodes),
                            "--python", PY, *extra], campaigns)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith("#SBATCH --gpus-per-node")]
    assert lines == ([] if want is None else [f"#SBATCH --gpus-per-node={want}"])
    # a campaign without an accelerator asks for none
    code, out, err = _jffs(["submit", "a/toy.toml", "--dry-run", "--groups", str(groups), "--python", PY], campaigns)
    assert code == 0 and "--gpus-per-node" not in out
