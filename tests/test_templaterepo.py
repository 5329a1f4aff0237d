"""The study template as psweep update reads it from a study's vendored wheel."""

from __future__ import annotations

import zipfile

import pytest

from psweep.errors import PsweepTemplateRepoError
from psweep.study.template_repo import template_files_of_wheel

PREFIX = "psweep/_study_template/"


def _wheel(path, names):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(PREFIX + "copier.yml", "_subdirectory: template\n")
        for name in names:
            zf.writestr(name, "x")
    return path


@pytest.mark.parametrize(
    "name",
    [
        PREFIX + "../../evil.sh",
        PREFIX + "template/../../../evil.sh",
        PREFIX + "/etc/evil",
        PREFIX + "C:/evil",
        PREFIX + "template\\..\\evil",
    ],
)
def test_a_wheel_with_paths_outside_the_template_is_refused(tmp_path, name):
    """A tampered wheel cannot make psweep update write outside the study (zip slip):
    an entry that climbs out, is absolute or names a drive is refused, nothing is read."""
    wheel = _wheel(tmp_path / "psweep_kit-9.9-py3-none-any.whl", [name])
    with pytest.raises(PsweepTemplateRepoError, match="outside the template folder"):
        template_files_of_wheel(wheel)


def test_a_sound_wheel_gives_its_template(tmp_path):
    """The files under psweep/_study_template/, by their path in the template."""
    wheel = _wheel(tmp_path / "psweep_kit-9.9-py3-none-any.whl", [PREFIX + "template/a.py"])
    files = template_files_of_wheel(wheel)
    assert files["copier.yml"] == b"_subdirectory: template\n"
    assert files["template/a.py"] == b"x"
