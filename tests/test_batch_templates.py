"""Tests of FileTemplate, Machine, gather_* and prep_batch with jinja and dollar templates."""

from __future__ import annotations

import pickle
import platform
from datetime import datetime
from pathlib import Path

import jinja2
import pytest

import psweep as ps
from psweep.batch import FileTemplate, Machine, gather_calc_templates, gather_machines


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- FileTemplate --------------------------------------------------------------------------


def test_file_template_names(tmp_path):
    """It knows the file, its name and folder, and the name it gets in a pset folder."""
    tmpl = FileTemplate(tmp_path / "jobscript", target_suffix="_cluster")
    assert tmpl.filename == str(tmp_path / "jobscript")
    assert tmpl.basename == "jobscript"
    assert tmpl.dirname == str(tmp_path)
    assert tmpl.targetname == "jobscript_cluster"
    assert tmpl.target == "jobscript_cluster"
    assert FileTemplate("a/b/run.py").targetname == "run.py"
    assert FileTemplate("a/b/run.py", subdir="sub").target == "sub/run.py"


def test_fill_jinja(tmp_path):
    """Jinja mode fills {{k}} with or without spaces, runs expressions, drops one newline."""
    fn = write(tmp_path / "t", "a={{a}} b={{ b }} twice={{ a * 2 }}\n\n")
    out = FileTemplate(fn).fill({"a": 3, "b": "x y"}, mode="jinja")
    assert out == "a=3 b=x y twice=6\n"


def test_fill_jinja_drops_exactly_one_trailing_newline(tmp_path):
    """One trailing newline goes, as jinja2 does it; a file without one is unchanged."""
    assert FileTemplate(write(tmp_path / "a", "x\n")).fill({}, mode="jinja") == "x"
    assert FileTemplate(write(tmp_path / "b", "x")).fill({}, mode="jinja") == "x"


def test_fill_jinja_missing_key(tmp_path, capsys):
    """A name the pset lacks raises jinja2's UndefinedError and names the file on stderr."""
    fn = write(tmp_path / "run.sh", "{{ a }} {{ nope }}")
    with pytest.raises(jinja2.UndefinedError, match="nope"):
        FileTemplate(fn).fill({"a": 1}, mode="jinja")
    assert capsys.readouterr().err == f"Failed to fill template: {fn}\n"


def test_fill_dollar(tmp_path):
    """Dollar mode substitutes $k and ${k}, turns $$ into $ and keeps the newlines."""
    fn = write(tmp_path / "t", "a=$a b=${b}c cost=$$5\n\n")
    assert FileTemplate(fn).fill({"a": 1, "b": "B"}, mode="dollar") == "a=1 b=Bc cost=$5\n\n"


def test_fill_dollar_missing_key(tmp_path, capsys):
    """A name the pset lacks raises KeyError and names the file on stderr."""
    fn = write(tmp_path / "t", "$a $missing\n")
    with pytest.raises(KeyError, match="missing"):
        FileTemplate(fn).fill({"a": 1}, mode="dollar")
    assert "Failed to fill template: " + str(fn) in capsys.readouterr().err


def test_fill_bad_mode(tmp_path, capsys):
    """Another mode is a ValueError that lists the valid ones."""
    fn = write(tmp_path / "t", "$a")
    with pytest.raises(ValueError, match="'jinja', 'dollar' or None"):
        FileTemplate(fn).fill({"a": 1}, mode="mustache")
    assert "Failed to fill template" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("x = {{ a }}\n", "jinja"),
        ("{% if a %}yes{% endif %}\n", "jinja"),
        ("x = $a ${b}\n", "dollar"),
        ('printf "{%d}" $a; n=${#list[@]}\n', "dollar"),  # no jinja in there
        ("plain text\n", "dollar"),
    ],
)
def test_auto_mode(tmp_path, text, mode):
    """Without a mode a file is jinja if it has {{ ... }} or {% ... %}, else dollar."""
    assert FileTemplate(write(tmp_path / "t", text)).mode() == mode
    assert ps.batch.template_mode_of(text) == mode


def test_fill_auto_keeps_0_7_templates(tmp_path):
    """A 0.7.0 template fills as before without a mode: $$ is $, the newline stays."""
    fn = write(tmp_path / "t", 'echo "hostname=$$(hostname)" $_pset_id\n')
    assert FileTemplate(fn).fill({"_pset_id": "p1"}) == 'echo "hostname=$(hostname)" p1\n'


def test_fill_datetime_as_iso_text(tmp_path):
    """Both modes fill a datetime (such as _time_utc) as the same ISO 8601 text."""
    when = {"t": datetime(2024, 5, 6, 7, 8, 9)}
    assert FileTemplate(write(tmp_path / "j", "{{ t }}")).fill(when) == "2024-05-06T07:08:09"
    assert FileTemplate(write(tmp_path / "d", "$t")).fill(when) == "2024-05-06T07:08:09"


def test_identifiers(tmp_path):
    """It lists the names a template uses, without jinja's loop variables and globals."""
    jinja = write(tmp_path / "j", "{{ a }}{% for i in range(n) %}{{ i }}{% endfor %}")
    assert FileTemplate(jinja).identifiers() == {"a", "n"}
    assert FileTemplate(write(tmp_path / "d", "$a ${b} $$c")).identifiers() == {"a", "b"}


def test_jinja_syntax_error_names_line(tmp_path):
    """A broken jinja template is a PsweepTemplateError with file and line."""
    fn = write(tmp_path / "t", "ok\n{{ a }}\n{% if a %}never closed\n")
    with pytest.raises(ps.PsweepTemplateError, match=r"line \d+: jinja syntax error"):
        FileTemplate(fn).identifiers()


def test_gather_calc_templates(tmp_path):
    """It makes one FileTemplate per file, subfolders kept in the target, sorted."""
    write(tmp_path / "calc/run.py", "")
    write(tmp_path / "calc/b.txt", "")
    write(tmp_path / "calc/sub/params.txt", "")
    found = gather_calc_templates(tmp_path / "calc")
    assert [t.target for t in found] == ["b.txt", "run.py", "sub/params.txt"]
    assert all(isinstance(t, FileTemplate) for t in found)
    with pytest.raises(ps.PsweepTemplateError, match="is not a directory"):
        gather_calc_templates(tmp_path / "nope")


# --- Machine ----------------------------------------------------------------------------------


def make_machine(root: Path, name: str, info: str, jobscript_name: str = "jobscript") -> Path:
    mdir = root / name
    write(mdir / "info.yaml", info)
    write(mdir / jobscript_name, "#!/bin/sh\necho {{ _pset_id }}\n")
    return mdir


def test_machine_attributes(tmp_path):
    """A Machine has its name, its jobscript template and each info.yaml setting."""
    mdir = make_machine(tmp_path, "cluster", "subcmd: sbatch\nhost: login1\npath: /scratch\n")
    machine = Machine(mdir)
    assert machine.name == "cluster"
    assert machine.subcmd == "sbatch"
    assert machine.host == "login1"
    assert machine.path == "/scratch"
    assert machine.info == {"subcmd": "sbatch", "host": "login1", "path": "/scratch"}
    assert isinstance(machine.template, FileTemplate)
    assert machine.template.filename == str(mdir / "jobscript")
    assert machine.template.targetname == "jobscript_cluster"


def test_machine_jobscript_name(tmp_path):
    """jobscript_name picks another template file; its target gets the machine's suffix."""
    mdir = make_machine(tmp_path, "local", "subcmd: sh\n", jobscript_name="job.sh")
    assert Machine(mdir, jobscript_name="job.sh").template.targetname == "job.sh_local"
    with pytest.raises(ps.PsweepTemplateError, match="no jobscript template 'jobscript'"):
        Machine(mdir)


@pytest.mark.parametrize("key", ["name", "template", "info"])
def test_machine_setting_collides_with_attribute(tmp_path, key):
    """A setting named like a Machine attribute is refused, not silently hidden."""
    mdir = make_machine(tmp_path, "cluster", f"subcmd: sh\n{key}: x\n")
    with pytest.raises(ps.PsweepTemplateError, match=f"'{key}'.*would hide the Machine attribute"):
        Machine(mdir)


def test_gather_machines(tmp_path):
    """It makes one Machine per folder, sorted, and ignores loose files."""
    make_machine(tmp_path, "zeta", "subcmd: sh\n")
    make_machine(tmp_path, "alpha", "subcmd: sbatch\n")
    write(tmp_path / "README", "not a machine")
    machines = gather_machines(tmp_path)
    assert [(m.name, m.subcmd) for m in machines] == [("alpha", "sbatch"), ("zeta", "sh")]
    with pytest.raises(ps.PsweepTemplateError, match="no machine folders"):
        gather_machines(tmp_path / "zeta")


# --- prep_batch -------------------------------------------------------------------------------


@pytest.fixture
def jinja_study(tmp_path, monkeypatch):
    """A 0.16 template folder: jinja placeholders only."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "templates/calc/run.py", "a = {{ a }}\nid = '{{_pset_id}}'\ncost = '$5'\n")
    write(tmp_path / "templates/machines/local/info.yaml", "subcmd: sh\n")
    write(
        tmp_path / "templates/machines/local/jobscript",
        "#!/bin/sh\n# {{ _pset_seq }} on {{ _exec_host }}\necho $HOME\npython3 run.py\n",
    )
    return tmp_path


def test_prep_batch_jinja_folder(jinja_study):
    """A jinja template folder renders as jinja, a '$' in it stays as it is."""
    df = ps.prep_batch(ps.plist("a", [1, 2]))
    for pset_id, row in df.iterrows():
        folder = jinja_study / "calc" / pset_id
        assert (folder / "run.py").read_text() == f"a = {row.a}\nid = '{pset_id}'\ncost = '$5'"
        job = (folder / "jobscript_local").read_text()
        assert job == (
            f"#!/bin/sh\n# {row._pset_seq} on {platform.node()}\necho $HOME\npython3 run.py"
        )


def test_prep_batch_jinja_missing_value_writes_nothing(jinja_study):
    """A jinja placeholder no pset has is named before anything is written."""
    with pytest.raises(ps.PsweepTemplateError, match=r"run.py' uses \{\{ a \}\}"):
        ps.prep_batch(ps.plist("b", [1]))
    assert not (jinja_study / "calc").exists()


def test_prep_batch_mixed_folder(jinja_study):
    """Each file is told apart: a $ file next to a jinja file fills as dollars."""
    write(jinja_study / "templates/calc/input.txt", "a=$a seq=${_pset_seq} $$\n")
    df = ps.prep_batch(ps.plist("a", [7]))
    folder = jinja_study / "calc" / df.index[0]
    assert (folder / "input.txt").read_text() == "a=7 seq=0 $\n"
    assert (folder / "run.py").read_text().startswith("a = 7\n")


def test_prep_batch_same_values_in_both_syntaxes(jinja_study):
    """A jinja file and a dollar file see the same values, reserved fields included."""
    names = ["a", "_pset_id", "_run_id", "_pset_seq", "_run_seq", "_calc_dir", "_time_utc"]
    names += ["_pset_hash", "_exec_host"]
    write(jinja_study / "templates/calc/j.txt", "".join(f"{{{{ {n} }}}}|" for n in names))
    write(jinja_study / "templates/calc/d.txt", "".join(f"${{{n}}}|" for n in names))
    df = ps.prep_batch(ps.plist("a", [1.5]))
    folder = jinja_study / "calc" / df.index[0]
    jinja, dollar = (folder / "j.txt").read_text(), (folder / "d.txt").read_text()
    assert jinja == dollar
    assert jinja.split("|")[1] == df.index[0]


def test_prep_batch_template_mode_forces_one_syntax(jinja_study):
    """template_mode='dollar' fills a file with {{ }} as dollars; 'jinja' a $ file as jinja."""
    write(jinja_study / "templates/calc/run.py", "x = {{ '{{' }} $a\n")
    write(jinja_study / "templates/machines/local/jobscript", "#!/bin/sh\npython3 run.py\n")
    df = ps.prep_batch(ps.plist("a", [1]), template_mode="dollar")
    assert (jinja_study / "calc" / df.index[0] / "run.py").read_text() == "x = {{ '{{' }} 1\n"
    write(jinja_study / "templates/calc/run.py", "cost $5 a={{ a }}\n")
    write(jinja_study / "templates/calc/plain.txt", "price $9\n")
    df = ps.prep_batch(ps.plist("a", [2]), template_mode="jinja")
    assert (jinja_study / "calc" / df.index[-1] / "plain.txt").read_text() == "price $9"
    with pytest.raises(ps.PsweepTemplateError, match="'mustache' is not known"):
        ps.prep_batch(ps.plist("a", [3]), template_mode="mustache")


def test_prep_batch_0_7_folder_unchanged(tmp_path, monkeypatch):
    """A 0.7.0 folder ($ syntax, $$ escapes) gives the files 0.7.0 gave, positional args too."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "tpl/calc/run.py", "a = $a  # $$ is a dollar\n")
    write(tmp_path / "tpl/machines/cluster/info.yaml", "subcmd: sbatch\n")
    write(
        tmp_path / "tpl/machines/cluster/jobscript",
        '#SBATCH -J foo_${_pset_seq}\necho "host=$$(hostname)"\n',
    )
    df = ps.prep_batch(ps.plist("a", [5]), "out", "tpl/calc", "tpl/machines", False, False)
    folder = tmp_path / "out" / df.index[0]
    assert (folder / "run.py").read_text() == "a = 5  # $ is a dollar\n"
    assert (
        folder / "jobscript_cluster"
    ).read_text() == '#SBATCH -J foo_0\necho "host=$(hostname)"\n'
    assert not (folder / "pset.pk").exists()


def test_prep_batch_write_pset(jinja_study):
    """write_pset=True pickles each pset with its bookkeeping fields to pset.pk."""
    df = ps.prep_batch(ps.plist("a", [1, 2]), write_pset=True)
    for pset_id, row in df.iterrows():
        with open(jinja_study / "calc" / pset_id / "pset.pk", "rb") as fh:
            pset = pickle.load(fh)
        assert pset["a"] == row.a
        for key in ("_pset_id", "_run_id", "_pset_seq", "_run_seq", "_calc_dir"):
            assert pset[key] == row[key], key
        assert pset["_pset_hash"] == ps.pset_hash({"a": row.a})
        assert pset["_exec_host"] == platform.node()
        assert isinstance(pset["_time_utc"], datetime)
        assert (jinja_study / "calc" / pset_id / "pset.json").exists()


def test_prep_batch_kwds_reach_run_local(jinja_study):
    """Extra keywords go to run_local: skip_dups leaves out psets already prepared."""
    ps.prep_batch(ps.plist("a", [1, 2]))
    df = ps.prep_batch(ps.plist("a", [1, 2, 3]), skip_dups=True)
    assert df["a"].tolist() == [1, 2, 3]
    assert df["_run_seq"].tolist() == [0, 0, 1]
    script = (jinja_study / "calc/run_local.sh").read_text().splitlines()
    active = [ln for ln in script if ln.startswith("cd ") and "jobscript_local" in ln]
    assert len(active) == 1 and df.index[-1] in active[0]
    with pytest.raises(TypeError, match=r"unexpected keyword|no_such_option"):
        ps.prep_batch(ps.plist("a", [4]), no_such_option=1)


def test_prep_batch_refuses_func(jinja_study):
    """prep_batch brings its own function: passing func is a TypeError, nothing written."""
    with pytest.raises(TypeError, match="got a func"):
        ps.prep_batch(ps.plist("a", [1]), func=lambda pset: {})
    assert not (jinja_study / "calc").exists()


def test_flat_api():
    """The 0.16 names are in psweep and psweep.batch; the classes are the same objects."""
    for name in ("FileTemplate", "Machine", "gather_calc_templates", "gather_machines"):
        assert getattr(ps, name) is getattr(ps.batch, name)
        assert name in ps.__all__
