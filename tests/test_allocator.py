"""bioglom.allocator: importing bioglom makes glibc keep freed memory for reuse, unless the
environment sets malloc itself."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from bioglom import ConfigError
from bioglom.allocator import keep_freed_memory

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="the settings are glibc's")

# resident MB after freeing a 256 MB tensor, minus before allocating it
FREED = """
import bioglom, torch

def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

before = resident_mb()
x = torch.ones(64, 2**20)  # 256 MB, written so its pages are resident
del x
print(resident_mb() - before)
"""


def resident_after_free(**env) -> float:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "BIOGLOM_KEEP_FREED_MEMORY"}
    out = subprocess.run([sys.executable, "-c", FREED], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return float(out.stdout)


@glibc
def test_importing_bioglom_keeps_freed_memory_and_the_environment_can_say_otherwise():
    assert resident_after_free() > 200  # kept for the next allocation of its size
    assert resident_after_free(BIOGLOM_KEEP_FREED_MEMORY="0") < 50  # glibc's default: unmapped when freed
    assert resident_after_free(MALLOC_ARENA_MAX="2") < 50  # a malloc setting of the user's: glibc as it says


def test_a_malloc_setting_in_the_environment_is_left_alone():
    assert not keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"})
    assert not keep_freed_memory({"BIOGLOM_KEEP_FREED_MEMORY": "0"})


def test_a_switch_other_than_0_or_1_is_refused_naming_it():
    with pytest.raises(ConfigError, match="BIOGLOM_KEEP_FREED_MEMORY='off' is not allowed"):
        keep_freed_memory({"BIOGLOM_KEEP_FREED_MEMORY": "off"})


@glibc
def test_without_settings_glibc_is_told():
    assert keep_freed_memory({})


def test_a_simulation_refuses_a_bad_switch_in_one_line_before_any_work(tmp_path):
    script = Path(__file__).resolve().parents[1] / "simulations" / "islands.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--out", str(tmp_path / "run")], capture_output=True,
                         text=True, env={**os.environ, "BIOGLOM_KEEP_FREED_MEMORY": "off"})
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: BIOGLOM_KEEP_FREED_MEMORY='off' is not allowed; set it to 0 (glibc's default malloc) "
                      "or 1 (keep freed memory, the default), or leave it unset"]
    assert "Traceback" not in out.stderr and not (tmp_path / "run" / "islands.nc").exists()
