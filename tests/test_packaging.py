import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"pytorch": "torch"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~;\s\[]", spec.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"]}
    lines = (ROOT / "environment.yml").read_text().split("dependencies:", 1)[1].splitlines()
    listed = {_name(l.strip()[2:]) for l in lines if l.strip().startswith("- ")}
    listed = {CONDA_NAMES.get(n, n) for n in listed} - {"python", "pip"}
    assert listed == wanted


def test_readme_commands_and_ci_agree():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make run" in readme


def _project_text_files():
    root = ROOT
    for path in root.rglob("*"):
        parts = path.relative_to(root).parts
        if parts[0] in (".venv", ".git", "results", "build") or parts[0].endswith(".egg-info") or not path.is_file():
            continue
        if path.suffix in (".py", ".md", ".ipynb", ".toml", ".yml", ".cff", ".txt", "") and path.stat().st_size < 2_000_000:
            yield path


def test_the_project_stands_alone():
    # its design and claims live in docs/, not in a brief outside the repository
    root = ROOT
    for name in ("docs/design.md", "docs/claims.md", "LICENSE", "CITATION.cff"):
        assert (root / name).is_file(), name
    offenders = []
    for path in _project_text_files():
        text = path.read_text(errors="ignore")
        if path == Path(__file__).resolve():
            continue  # the patterns themselves
        if "../shared" in text or re.search(r"(?<![\w/])(DESIGN|EXPERIMENTS)\.md", text):
            offenders.append(str(path.relative_to(root)))
    assert not offenders, f"files pointing outside the project: {offenders}"


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # anything a block writes lands here
    # the "opening a result" block reads what a run writes: make one, quickly
    run = subprocess.run([sys.executable, str(ROOT / "simulations" / "islands.py"), "--quick", "--no-progress",
                          "--out", str(tmp_path / "results" / "islands")], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    namespace: dict = {}
    for block in blocks:  # in order, in one namespace, as a reader would paste them
        exec(compile(block, "README.md", "exec"), namespace)


def test_the_version_and_the_torch_pin_are_written_once():
    import bioglom

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "bioglom.__version__"}
    assert not re.search(r"^version:", (ROOT / "CITATION.cff").read_text(), flags=re.M)
    assert re.fullmatch(r"\d+\.\d+\.\d+", bioglom.__version__)
    pin = re.search(r"^TORCH_SPEC \?= torch==(\S+)", (ROOT / "Makefile").read_text(), flags=re.M).group(1)
    assert re.search(rf"^\s*- pytorch={re.escape(pin)}\b", (ROOT / "environment.yml").read_text(), flags=re.M)
    assert project["project"]["urls"]


def _import_graph() -> dict[str, set[str]]:
    """Every bioglom module and the bioglom modules it imports, at module level or inside a
    function (a lazy import closes a circle as surely as one at the top)."""
    import ast

    pkg_root = ROOT / "bioglom"
    names = {}
    for p in pkg_root.rglob("*.py"):
        parts = list(p.with_suffix("").relative_to(ROOT).parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p

    def resolve(target: str) -> str:
        while target and target not in names:
            target = target.rsplit(".", 1)[0] if "." in target else ""
        return target

    graph = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
                targets = [".".join(base + ([node.module] if node.module else []))]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            deps |= {resolve(t) for t in targets if t.startswith("bioglom")} - {"", name}
        graph[name] = deps
    return graph


def test_no_module_of_bioglom_imports_itself_round_a_circle():
    graph = _import_graph()
    assert graph["bioglom.attention"] and "bioglom.config" in graph["bioglom.attention"]  # the walk sees imports
    circles, done = [], set()

    def visit(node, path):
        for dep in graph[node]:
            if dep in path:
                circles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(node)

    for name in graph:
        if name not in done:
            visit(name, [name])
    assert not circles, circles


def test_the_model_never_imports_learning_spiking_analysis_or_experiments():
    graph = _import_graph()
    model = {"bioglom.model", "bioglom.config", "bioglom.attention", "bioglom.consensus", "bioglom.columns",
             "bioglom.frontend", "bioglom.decoder", "bioglom.location", "bioglom.retina", "bioglom.phases"}
    assert model <= set(graph)
    outside = ("bioglom.learning", "bioglom.spiking", "bioglom.analysis", "bioglom.experiments")
    for name in model:
        assert not {d for d in graph[name] if d.startswith(outside)}, name


def test_every_readme_picture_comes_from_the_run_whose_claims_it_illustrates():
    import xarray as xr

    from bioglom.analysis.figures import figure_commit
    from bioglom.analysis.samples import PICTURES, SAMPLES

    shown = set(re.findall(r"analysis/samples/([\w.-]+\.png)", (ROOT / "README.md").read_text()))
    assert {"islands.png", "islands_claims.png"} <= shown
    for name in sorted(shown):
        if name.endswith("_claims.png"):
            run = name.removesuffix("_claims.png")
        else:
            assert name in PICTURES, f"{name}: the README shows it, but PICTURES names no run it comes from"
            run = PICTURES[name][0]
        with xr.open_dataset(SAMPLES / f"{run}_claims.nc", engine="h5netcdf") as ds:
            claims = ds.attrs["git_commit"]
        assert figure_commit(SAMPLES / name) == claims, (
            f"{name} was drawn at {figure_commit(SAMPLES / name)}, its claims ({run}_claims.nc) at {claims}: "
            "python -m bioglom.analysis.samples --only readme")
