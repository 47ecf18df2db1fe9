"""The class report (grader/classreport.py) and the shared-code pairs (grader/similarity.py).

Most tests build the report from results objects written as batch writes them (a results.json
per student, a CSV), without grading; one grades a small class for real with `batch --report`.
The class: three correct submissions written independently (the reference and the kit's correct
variants of sampling and beam search), two that share one wrong sampling function, one whose beam
search is another student's with its variables renamed, the untouched stubs, and a zip uploaded
instead of a folder.
"""
from __future__ import annotations

import base64
import csv
import io
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from make_submission import submission_with
from PIL import Image

from grader.batch import merge
from grader.classreport import failure_rates, load_class, mistakes, result_from_gradescope, write_report
from grader.points import EXERCISES, SHARES
from grader.result import ExerciseResult, GradeResult, TestResult, score
from grader.results import gradescope, write_gradescope
from grader.similarity import DEFAULT_THRESHOLD, similar_pairs
from grader.submission import EXERCISES_DIR, REPO, SOLUTIONS_DIR

pytestmark = pytest.mark.kit

TESTS = Path(__file__).resolve().parent.parent
INDEPENDENT = ("ada", "bea", "cal")  # correct, written independently of each other

# The wrong sampling that dan and eve share: the reference's module with one function replaced.
MULTIPLIES = '''

def softmax_with_temperature(logits, temperature):
    t = check_temperature(temperature)
    scaled = (logits - logits.amax(dim=-1, keepdim=True)) * t  # multiplies by T: should divide
    return scaled.softmax(dim=-1)
'''
# fay's beam search: bea's, every local variable renamed.
RENAMES = {"heap": "kept", "order": "counter", "beams": "hyps", "sums": "totals", "cache": "kv", "parent": "src",
           "token": "tok", "grown": "longer", "ending": "done", "alive": "live", "improving": "better", "logp": "lp"}


def sampling_variant(name: str) -> str:
    """A correct sampling variant (tests/variants/sampling/), with the repetition penalty that the
    kit's beam search imports from it."""
    return ((TESTS / "variants" / "sampling" / name).read_text()
            + "from ._reference import check_repetition_penalty, repetition_penalty  # noqa: E402,F401\n")


def beam_variant(name: str) -> str:
    """A correct beam search variant, borrowing its argument checks from `_reference_beam.py`."""
    text = (TESTS / "variants" / "beam_search" / name).read_text()
    return text.replace("from ._reference import", "from ._reference_beam import")


def renamed(source: str) -> str:
    for old, new in RENAMES.items():
        source = re.sub(rf"(?<![.\w]){old}\b", new, source)
    return source


def build_class(root: Path) -> Path:
    beam_reference = {"_reference_beam.py": SOLUTIONS_DIR / "beam_search.py"}
    submission_with(root / "ada")
    submission_with(root / "bea", {"sampling.py": sampling_variant("library_softmax_and_gather.py"), **beam_reference,
                                   "beam_search.py": beam_variant("prompt_once_then_expand.py")}, borrow="sampling")
    submission_with(root / "cal", {"sampling.py": sampling_variant("logsumexp_and_descending_mass.py"), **beam_reference,
                                   "beam_search.py": beam_variant("python_hypotheses_and_layer_index_select.py")},
                    borrow="sampling")
    wrong = (SOLUTIONS_DIR / "sampling.py").read_text() + MULTIPLIES
    for name in ("dan", "eve"):
        submission_with(root / name, {"sampling.py": wrong})
    submission_with(root / "fay", {**beam_reference, "beam_search.py": renamed(beam_variant("prompt_once_then_expand.py"))})
    shutil.copytree(EXERCISES_DIR, root / "gus", ignore=shutil.ignore_patterns("__pycache__"))
    with zipfile.ZipFile(root / "hal.zip", "w") as archive:
        archive.writestr("sampling.py", "")
    return root


@pytest.fixture(scope="module")
def classroom(tmp_path_factory) -> Path:
    return build_class(tmp_path_factory.mktemp("classroom") / "class")


def folders_of(root: Path) -> dict[str, Path]:
    return {p.name: p for p in root.iterdir() if p.is_dir()}


class Page(HTMLParser):
    """What a test reads from the report: ids, links, images, and each mistake's block."""

    def __init__(self, text: str):
        super().__init__()
        self.ids, self.links, self.images, self.mistakes = set(), [], [], []
        self._depth = 0  # <div> nesting inside the current mistake block, 0 outside
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            assert attrs["id"] not in self.ids, f"id {attrs['id']} twice"
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href", "").startswith("#"):
            self.links.append(attrs["href"][1:])
            if self._depth:
                self.mistakes[-1]["links"].append(attrs["href"][1:])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "div":
            if self._depth:
                self._depth += 1
            elif attrs.get("class") == "mistake":
                self._depth = 1
                self.mistakes.append({"links": [], "text": ""})

    def handle_endtag(self, tag):
        if tag == "div" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.mistakes[-1]["text"] += data


def check_page(path: Path) -> Page:
    """The report parses, every link inside it lands on an id, and every image is a PNG that decodes."""
    page = Page(path.read_text(encoding="utf-8"))
    assert set(page.links) <= page.ids, set(page.links) - page.ids
    assert page.images, "no plot in the report"
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        image = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1], validate=True)))
        image.verify()
        assert image.format == "PNG"
    assert "http://" not in path.read_text() and "https://" not in path.read_text(), "the report must need no network"
    return page


# ----------------------------------------------------------------------------------------------
# Shared code, on the class's files (no grading).

def test_similarity_flags_the_copied_beam_search_and_not_the_independent_submissions(classroom):
    pairs, problems = similar_pairs(folders_of(classroom), modules=("sampling", "beam_search"))
    found = {(p.file, p.a, p.b): p for p in pairs}
    assert not problems
    copied = found[("beam_search.py", "bea", "fay")]
    assert copied.score > 0.9 and "<mark>" in copied.code_a and "<mark>" in copied.code_b
    assert ("sampling.py", "dan", "eve") in found, "the shared wrong sampling is shared code"
    assert not [key for key in found if key[1] in INDEPENDENT and key[2] in INDEPENDENT], found.keys()
    assert not [key for key in found if "gus" in key], "the untouched stubs share nothing: starter code is ignored"


def test_the_starter_code_is_what_makes_two_untouched_stubs_unrelated(tmp_path):
    for name in ("ann", "bob"):
        shutil.copytree(EXERCISES_DIR, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    folders = {"ann": tmp_path / "ann", "bob": tmp_path / "bob"}
    assert similar_pairs(folders)[0] == []
    (tmp_path / "no-starter").mkdir()
    assert similar_pairs(folders, starter=tmp_path / "no-starter")[0], "without the starter code the stubs match"


def test_independent_correct_implementations_are_not_flagged(tmp_path):
    """The reference and every correct variant of each module (tests/variants/), compared at the
    default threshold: none is a pair (the false positives this threshold gives on the kit's code)."""
    students: dict[str, Path] = {"reference": SOLUTIONS_DIR}
    for module in EXERCISES:
        for k, path in enumerate(sorted((TESTS / "variants" / module).glob("*.py"))):
            folder = students.setdefault(f"variant-{k}", tmp_path / f"variant-{k}")
            folder.mkdir(exist_ok=True)
            shutil.copy(path, folder / f"{module}.py")
    assert len(students) == 3
    pairs, _ = similar_pairs(students, DEFAULT_THRESHOLD)
    assert pairs == [], [(p.file, p.a, p.b, round(p.score, 2)) for p in pairs]
    lower, _ = similar_pairs(students, 0.2)
    assert lower, "at a threshold of 0.2 the independent implementations do match: the test would see a pair"


# ----------------------------------------------------------------------------------------------
# The report from results objects, written as batch writes them (no grading).

SOFTMAX_TESTS = ("test_softmax_with_temperature_matches_reference", "test_softmax_with_temperature_lower_sharpens",
                 "test_softmax_with_temperature_int_temperature")
OTHER_TESTS = ("test_entropy_uniform_is_log_n", "test_top_k_filter_matches_transformers")


def multiplies(got: float) -> str:
    return (f"softmax_with_temperature(logits of shape [50], 0.5): expected 0.999801 at flat index 43, got {got} "
            f"- hint: exp(logits / T) normalised over the LAST dimension; T divides the logits")


def sampling_result(name: str, failures: dict[str, str], hidden: dict[str, str | None] | None = None) -> GradeResult:
    """A graded sampling exercise: `failures` maps a test to its message (the others pass);
    `hidden` maps hidden tests to a message (failed) or None (passed)."""
    tests = [TestResult(nodeid=f"tests/test_sampling.py::{t}", exercise="sampling", weight=1.0,
                        outcome="failed" if t in failures else "passed", message=failures.get(t, ""))
             for t in SOFTMAX_TESTS + OTHER_TESTS]
    tests += [TestResult(nodeid=f"hidden/test_hidden_sampling.py::{t}", exercise="sampling", weight=1.0,
                         outcome="passed" if m is None else "failed", message=m or "", hidden=True)
              for t, m in (hidden or {}).items()]
    ex = ExerciseResult("sampling", SHARES["sampling"], tests, seconds=2.0 + len(failures))
    score(ex)
    return GradeResult(submission=f"/nowhere/{name}", model="tiny", device="cpu", exercises=[ex], seconds=ex.seconds)


def not_graded_result(name: str, why: str) -> GradeResult:
    return GradeResult(submission=f"/nowhere/{name}", model="tiny", device="cpu",
                       exercises=[ExerciseResult("sampling", SHARES["sampling"], note=why)])


def write_batch(folder: Path, results: dict[str, GradeResult]) -> Path:
    """What batch writes: a results.json per student and the CSV beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, result in results.items():
        write_gradescope(result, folder / f"{name}.json")
        points = {ex.name: f"{round(ex.earned, 4):g}" for ex in result.exercises}
        rows.append({"submission": name, "total": f"{round(result.total, 4):g}", **{e: points.get(e, "") for e in EXERCISES}})
    with (folder / "grades.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["submission", "total", *EXERCISES])
        writer.writeheader()
        writer.writerows(rows)
    return folder / "grades.csv"


SECRET = "top_k_filter(logits of 'Seen by nobody', 2): expected [1, 2], got [3] - hint: keep leading spaces"


def small_class() -> dict[str, GradeResult]:
    stub = "not implemented yet: softmax_with_temperature: exp(logits / T) normalised. Task 3.1"
    return {
        "ada": sampling_result("ada", {}, hidden={"test_hidden_secret[Seen by nobody]": None}),
        # the same mistake, its numbers differing in the last digits: one kind
        "dan": sampling_result("dan", {t: multiplies(0.577128) for t in SOFTMAX_TESTS},
                               hidden={"test_hidden_secret[Seen by nobody]": SECRET}),
        "eve": sampling_result("eve", {t: multiplies(0.577131) for t in SOFTMAX_TESTS},
                               hidden={"test_hidden_secret[Seen by nobody]": SECRET}),
        # another softmax mistake in one test, and the stubs: one student each
        "kim": sampling_result("kim", {SOFTMAX_TESTS[0]: "softmax_with_temperature(logits of shape [50], 0.5): "
                                                         "expected a Tensor, got list [0.1, 0.9]"}),
        "gus": sampling_result("gus", {t: stub for t in SOFTMAX_TESTS + OTHER_TESTS},
                               hidden={"test_hidden_secret[Seen by nobody]": stub}),
        "hal": not_graded_result("hal", "uploaded a file, not a folder: hal.zip (a zip archive)"),
    }


def test_results_read_back_from_their_json(tmp_path):
    result = small_class()["dan"]
    back = result_from_gradescope(gradescope(result))
    ex, original = back.exercise("sampling"), result.exercise("sampling")
    assert [(t.name, t.outcome, t.message, t.hidden) for t in ex.tests] == \
        [(t.name, t.outcome, t.message, t.hidden) for t in original.tests]
    assert ex.earned == pytest.approx(original.earned, abs=1e-3) and back.total == pytest.approx(result.total, abs=1e-3)


def test_the_most_common_mistake_is_the_shared_one(tmp_path):
    grades = write_batch(tmp_path / "batch", small_class())
    kinds = mistakes(load_class(grades))
    first = kinds[0]
    assert first.students == ["dan", "eve"] and first.exercise == "sampling" and not first.hidden
    assert sorted(first.tests) == sorted(SOFTMAX_TESTS) and first.message == multiplies(0.577128)
    assert [k for k in kinds if k.students == ["kim"]], "kim's other softmax mistake is a kind of its own"
    hidden = [k for k in kinds if k.hidden]
    assert [(k.students, k.tests) for k in hidden] == [(["dan", "eve"], ["hidden test 1"])]
    # tied to the function its message names (the students' own), never quoting the message
    assert hidden[0].message == "an instructor's hidden test of top_k_filter failed (its name and message are not shown)"
    (stubs,) = [k for k in kinds if k.students == ["gus"]]  # an untouched stub, hidden tests included
    assert stubs.message.startswith("not implemented yet") and "hidden test 1" in stubs.tests

    written = write_report(grades, tmp_path / "report.html")
    page = check_page(written.report)
    assert page.mistakes[0]["text"].startswith("2 of 5 students")  # hal was not graded
    assert page.mistakes[0]["links"] == ["student-dan", "student-eve"]
    assert not [m for m in page.mistakes if "not implemented yet" in m["text"]], "stubs are no misconception"
    text = written.report.read_text()
    assert 'href="#student-gus"' in text[text.index("Not written yet"):text.index('id="tests"')]
    assert {f"student-{n}" for n in small_class()} <= page.ids


def test_a_cause_comes_before_what_it_causes_and_tests_not_run_are_no_kind(tmp_path):
    """One student's top_k_filter mistake, which also fails sample_next_token's tests, and a test the grader
    did not run after a stop: the top_k_filter kind first (its function comes first in sampling.py), then
    sample_next_token's, however many tests it has; no kind for the test not run."""
    failures = {OTHER_TESTS[1]: "top_k_filter(logits of shape [50], 2): kept 3 tokens, expected 2",
                SOFTMAX_TESTS[0]: "sample_next_token(logits, 1.0, top_k=2): draws differ from the expected",
                SOFTMAX_TESTS[1]: "sample_next_token(logits, 0.5, top_k=2): draws differ from the expected",
                SOFTMAX_TESTS[2]: "not run: the test process stopped 6 times; fix that first"}
    kinds = mistakes(load_class(write_batch(tmp_path / "batch", {"bob": sampling_result("bob", failures)})))
    assert [(k.subject, len(k.tests)) for k in kinds] == [("top_k_filter", 1), ("sample_next_token", 2)]


def test_failure_rates_leave_out_the_students_who_did_not_write_the_function(tmp_path):
    """An untouched stub fails every test as "not implemented yet": counted apart, so that a test fails for
    nearly everyone only when the students who wrote the function fail it."""
    rates = {r.test: r for r in failure_rates(load_class(write_batch(tmp_path / "batch", small_class())))}
    first, other = rates[SOFTMAX_TESTS[0]], rates[OTHER_TESTS[0]]
    assert (first.failed, first.graded, first.not_written) == (3, 4, 1)  # dan, eve, kim of ada..kim; gus a stub
    assert (other.failed, other.graded, other.not_written, other.rate) == (0, 4, 1, 0.0)


def test_the_report_says_how_long_each_grading_took(tmp_path):
    """Each student's grading time (results.json's execution_time), and the class's sum, median and longest."""
    written = write_report(write_batch(tmp_path / "batch", small_class()), tmp_path / "report.html")
    text = written.report.read_text()
    seconds = {name: r.seconds for name, r in small_class().items() if r.exercises[0].tests}
    assert sorted(seconds.values()) == [2.0, 3.0, 5.0, 5.0, 7.0]  # ada, kim, dan, eve, gus (hal: not graded)
    assert 'Grading time: 22 s of test processes in all; per student median 5.0 s, longest 7.0 s (<a href="#student-gus">' \
        in text
    hal = text[text.index('id="student-hal"'):]
    assert "Graded in" not in hal[:hal.index("</div>")], "hal was not graded"
    assert "Over all 6 students: the 1 not graded count as 0" in text
    for name, took in seconds.items():
        section = text[text.index(f'id="student-{name}"'):]
        assert f"Graded in {took:.1f} s" in section[:section.index('<div class="student"', 1)
                                                    if '<div class="student"' in section[1:] else None]


def test_hidden_tests_are_counted_never_named_or_quoted(tmp_path):
    written = write_report(write_batch(tmp_path / "batch", small_class()), tmp_path / "report.html")
    text = written.report.read_text()
    assert "Seen by nobody" not in text and "test_hidden_secret" not in text and "leading spaces" not in text
    assert "hidden test 1" in text and "0 of 1 hidden tests passed" in text and "1 of 1 hidden tests passed" in text


def test_ungradable_students_are_listed_with_the_reason(tmp_path):
    written = write_report(write_batch(tmp_path / "batch", small_class()), tmp_path / "report.html")
    text = written.report.read_text()
    section = text[text.index('id="not-graded"'):text.index('id="mistakes"')]
    assert 'href="#student-hal"' in section and "uploaded a file, not a folder: hal.zip (a zip archive)" in section
    assert written.similarity_csv is None and "The code was not compared" in text  # no folders here


def test_a_class_of_one(tmp_path):
    grades = write_batch(tmp_path / "batch", {"dan": small_class()["dan"]})
    written = write_report(grades, tmp_path / "report.html")
    page = check_page(written.report)
    assert page.mistakes[0]["text"].startswith("1 of 1 students") and "student-dan" in page.ids
    assert written.pairs == 0


def test_a_merged_set_of_shards(tmp_path):
    everyone = small_class()
    names = sorted(everyone)
    shards = [write_batch(tmp_path / f"shard-{k}", {n: everyone[n] for n in names[k - 1::2]}) for k in (1, 2)]
    merged = tmp_path / "class" / "grades.csv"
    merge(merged, shards, expect_shards=2)
    alone = load_class(merged)  # the JSONs are in the shards' folders, not beside the merged CSV
    assert all(s.result is None and "--results" in s.problem for s in alone)
    written = write_report(merged, tmp_path / "class" / "report.html", results=[p.parent for p in shards])
    students = load_class(merged, [p.parent for p in shards])
    assert [s.name for s in students] == names and all(s.result is not None for s in students)
    assert check_page(written.report).mistakes[0]["links"] == ["student-dan", "student-eve"]


def test_report_command_writes_the_page_and_refuses_a_bad_threshold(tmp_path, classroom):
    grades = write_batch(tmp_path / "batch", small_class())
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "grader", "report", str(grades), "--submissions",
                           str(classroom)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not re.search(r"\|\s+torch$", proc.stderr, flags=re.M), "python -m grader report imported torch"
    assert (tmp_path / "batch" / "report.html").is_file() and "Class report:" in proc.stdout
    rows = list(csv.DictReader((tmp_path / "batch" / "report-similarity.csv").open()))
    assert ("sampling.py", "dan", "eve") in {(r["file"], r["student_a"], r["student_b"]) for r in rows}
    bad = subprocess.run([sys.executable, "-m", "grader", "report", str(grades), "--similarity-threshold", "50"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "between 0 and 1" in bad.stderr


# ----------------------------------------------------------------------------------------------
# One real batch.

def test_batch_writes_the_class_report(classroom, tmp_path):
    out = tmp_path / "grades" / "grades.csv"
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(classroom), "--out", str(out), "--quiet",
                           "--model", "tiny", "--device", "cpu", "--jobs", "2", "--exercise", "sampling",
                           "--exercise", "beam_search", "--report", str(tmp_path / "grades" / "report.html")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with out.open() as f:
        reader = csv.DictReader(f)
        rows = {row["submission"]: row for row in reader}
    assert reader.fieldnames == ["submission", "total", *EXERCISES], "the CSV gains nothing"
    assert {n: rows[n]["total"] for n in INDEPENDENT + ("fay",)} == {n: "35" for n in INDEPENDENT + ("fay",)}

    page = check_page(tmp_path / "grades" / "report.html")
    first = page.mistakes[0]
    assert first["text"].startswith("2 of 7 students") and first["links"] == ["student-dan", "student-eve"]
    assert "T divides the logits" in first["text"] or "divide the logits by T" in first["text"]
    text = (tmp_path / "grades" / "report.html").read_text()
    assert "uploaded a file, not a folder: hal.zip" in text[text.index('id="not-graded"'):text.index('id="mistakes"')]

    pairs = {(r["file"], r["student_a"], r["student_b"])
             for r in csv.DictReader((tmp_path / "grades" / "report-similarity.csv").open())}
    assert ("beam_search.py", "bea", "fay") in pairs and ("sampling.py", "dan", "eve") in pairs
    assert not [p for p in pairs if p[1] in INDEPENDENT and p[2] in INDEPENDENT], pairs
    assert "A prompt to look, never a verdict" in text
