"""Safe zip expansion, single-file checks and file-type sniffing."""

from __future__ import annotations

import io
import zipfile

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from award.intake.filetypes import check_extension, ole_has_macros, sniff
from award.intake.unzip import ArchiveLimits, check_standalone_file, expand, normalise_member_path, safe_ooxml
from tests import mailcases as mc


def codes(result) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(r.path, r.reason_code) for r in result.refusals]


def test_gbk_zip_names_and_folders() -> None:
    result = expand(mc.gbk_zip(), "材料.zip")
    assert [m.path for m in result.files] == list(mc.GBK_ZIP_NAMES)
    assert result.refusals == []
    assert result.files[0].data == mc.PDF_BYTES and result.files[0].size == len(mc.PDF_BYTES)
    assert result.files[3].data.decode("gbk") == "材料清单见文件夹。"


def test_utf8_flag_names() -> None:
    data = mc.utf8_zip(["申报材料/喆镕.pdf", "__MACOSX/._x.pdf", "申报材料/.DS_Store"], [mc.PDF_BYTES, b"x", b"y"])
    result = expand(data, "a.zip")
    assert [m.path for m in result.files] == ["申报材料/喆镕.pdf"]


def test_zip_bomb_by_ratio_and_by_total() -> None:
    result = expand(mc.zip_bomb(), "炸弹.zip")
    assert result.files == [] and codes(result) == [("炸弹.zip", "zip_bomb")]
    assert "炸弹.zip" in result.refusals[0].reason_text_zh
    small = ArchiveLimits(max_total_bytes=1000, max_ratio=10**9)
    assert expand(mc.gbk_zip(), "材料.zip", small).refusals == []  # 183 bytes fit
    assert codes(expand(mc.zip_bomb(size=2000), "b.zip", small)) == [("b.zip", "zip_bomb")]


def test_lying_header_is_refused_whole() -> None:
    result = expand(mc.lying_zip_bomb(), "l.zip")
    assert result.files == []
    assert codes(result)[0][0] == "l.zip" and codes(result)[0][1] in {"zip_bomb", "corrupt"}


def test_path_traversal_refused_per_member() -> None:
    result = expand(mc.traversal_zip(), "t.zip")
    assert [m.path for m in result.files] == ["正常/申报表.pdf"]
    assert [c for _, c in codes(result)] == ["path_traversal"] * 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a/./b//c.pdf", ("a/b/c.pdf", None)),
        ("a\\b.pdf", ("a/b.pdf", None)),
        ("dir/", (None, None)),
        ("../x", (None, "的路径指向压缩包以外（含“..”）")),
        ("D:x.pdf", (None, "使用了绝对路径")),
    ],
)
def test_normalise_member_path(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert normalise_member_path(raw) == expected


def test_encrypted_zip_is_real_zipcrypto_and_refused() -> None:
    data = mc.encrypted_zip()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read(zf.infolist()[0], pwd=mc.ENCRYPTED_PASSWORD) == mc.PDF_BYTES
    result = expand(data, "加密.zip")
    assert result.files == [] and codes(result) == [("加密.zip", "encrypted")]
    assert "密码" in result.refusals[0].reason_text_zh


def test_partly_encrypted_zip_refuses_members_only() -> None:
    plain = mc.build_zip([("公开.pdf".encode("gbk"), mc.PDF_BYTES)])
    locked = mc.build_zip([("加密.pdf".encode("gbk"), mc.PDF_BYTES)], password=b"x")
    both = mc.utf8_zip(["a.zip"], [plain])  # sanity: nested works
    assert [m.path for m in expand(both, "o.zip").files] == ["a.zip/公开.pdf"]
    mixed = mc.utf8_zip(["公开.zip", "加密.zip"], [plain, locked])
    result = expand(mixed, "o.zip")
    assert [m.path for m in result.files] == ["公开.zip/公开.pdf"]
    assert codes(result) == [("加密.zip", "encrypted")]


def test_rar_refused_with_resubmit_hint() -> None:
    result = expand(mc.rar_like(), "材料.rar")
    assert codes(result) == [("材料.rar", "unsupported_archive")]
    assert "请解压后以zip或单独文件提交" in result.refusals[0].reason_text_zh


def test_mixed_zip_per_member_refusals_and_depth() -> None:
    result = expand(mc.mixed_zip(), "申报.zip")
    assert [m.path for m in result.files] == ["申报表.docx", "内层.zip/第二层.pdf"]
    assert codes(result) == [
        ("宏.docm", "macro_document"),
        ("证明/营业执照.pdf", "type_mismatch"),
        ("附件.rar", "unsupported_archive"),
        ("内层.zip/第三层.zip", "too_deep"),
        ("实体.docx", "xml_entities"),
    ]
    deeper = expand(mc.mixed_zip(), "申报.zip", ArchiveLimits(max_depth=3))
    assert "内层.zip/第三层.zip/最深.pdf" in [m.path for m in deeper.files]


def test_too_many_members_and_too_large() -> None:
    data = mc.utf8_zip([f"{i}.txt" for i in range(6)], [b"hello"] * 6)
    assert codes(expand(data, "m.zip", ArchiveLimits(max_members=5))) == [("m.zip", "too_many_files")]
    big = mc.utf8_zip(["大.pdf", "小.pdf"], [mc.PDF_BYTES + b"x" * 5000, mc.PDF_BYTES])
    result = expand(big, "b.zip", ArchiveLimits(max_file_bytes=1000))
    assert [m.path for m in result.files] == ["小.pdf"] and codes(result) == [("大.pdf", "too_large")]


def test_not_a_zip() -> None:
    assert codes(expand(b"hello", "x.zip")) == [("x.zip", "type_mismatch")]
    assert codes(expand(b"PK\x03\x04broken", "y.zip")) == [("y.zip", "corrupt")]


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_a_zip_cut_short_is_refused_whole_as_corrupt(keep: float) -> None:
    """Issue 13: a zip cut by a truncated mail (its central directory gone) is refused with a reason, never half read."""
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"证明{i}.pdf", mc.PDF_BYTES + bytes(range(256)) * 40)
    data = bundle.getvalue()
    result = expand(data[: int(len(data) * keep)], "材料.zip")
    assert result.files == [] and codes(result) == [("材料.zip", "corrupt")]
    assert "已损坏" in result.refusals[0].reason_text_zh


def test_standalone_checks() -> None:
    assert check_standalone_file("申报书.docx", mc.docx_bytes()) is None
    assert check_standalone_file("申报书.pdf", mc.PDF_BYTES) is None
    exe = check_standalone_file("申报书.pdf", mc.mismatched_pdf())
    assert exe is not None and exe.reason_code == "type_mismatch" and "申报书.pdf" in exe.reason_text_zh
    zip_as_pdf = check_standalone_file("证明.pdf", mc.gbk_zip())
    assert zip_as_pdf is not None and "ZIP压缩包" in zip_as_pdf.reason_text_zh
    for name in ("宏.docm", "宏.docx"):  # by extension and by content (vbaProject.bin)
        refusal = check_standalone_file(name, mc.docm_file())
        assert refusal is not None and refusal.reason_code == "macro_document"
    entity = check_standalone_file("实体.docx", mc.entity_docx())
    assert entity is not None and entity.reason_code == "xml_entities"
    large = check_standalone_file("a.pdf", mc.PDF_BYTES, ArchiveLimits(max_file_bytes=10))
    assert large is not None and large.reason_code == "too_large"
    assert check_standalone_file("a.7z", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 30).reason_code == "unsupported_archive"  # type: ignore[union-attr]


def test_safe_ooxml() -> None:
    assert safe_ooxml(mc.docx_bytes()) is None
    assert "XML实体" in (safe_ooxml(mc.entity_docx()) or "")
    assert "含宏" in (safe_ooxml(mc.docm_file()) or "")


def _tar_of(name: str) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8") as tf:
        info = tarfile.TarInfo(name)
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (mc.PDF_BYTES, "pdf"),
        (mc.JPEG_BYTES, "jpeg"),
        (mc.EXE_BYTES, "exe"),
        (mc.gbk_zip(), "zip"),
        (mc.rar_like(), "rar"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"BM" + b"\x00" * 20, "bmp"),
        (b"BM", "text"),  # too short for a bitmap header
        (b"BZh9" + b"\x00" * 300, "bzip2"),
        (_tar_of("BZh-说明.txt"), "tar"),  # a member name that starts like bzip2 magic
        ("中文说明".encode("gbk"), "text"),
        (b"", "empty"),
        (b"\x00\x01\x02\x03" * 10, "unknown"),
    ],
)
def test_sniff(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


def test_sniff_ooxml_kinds() -> None:
    assert sniff(mc.docx_bytes()) == "docx"
    buf = io.BytesIO()
    openpyxl.Workbook().save(buf)
    assert sniff(buf.getvalue()) == "xlsx"
    assert check_extension("表.xlsx", buf.getvalue()) is None
    reason = check_extension("表.docx", buf.getvalue())
    assert reason is not None and "Excel" in reason


def test_check_extension_lenient_for_word_family() -> None:
    assert check_extension("申报书.doc", mc.docx_bytes()) is None
    assert check_extension("申报书.wps", mc.docx_bytes()) is None
    assert check_extension("无扩展名", mc.PDF_BYTES) is None
    assert "可执行程序" in (check_extension("a.jpg", mc.EXE_BYTES) or "")
    assert ole_has_macros(b"not ole") is False


FUZZ_BASES = (mc.mixed_zip(), mc.gbk_zip())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_expand_never_raises_on_corrupted_zips(data: st.DataObject) -> None:
    raw = bytearray(data.draw(st.sampled_from(FUZZ_BASES)))
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    result = expand(bytes(raw), "坏.zip")
    assert all(m.size == len(m.data) for m in result.files)
    for member in result.files:
        check_standalone_file(member.path, member.data)


def test_zip_whose_first_member_is_a_stored_pdf_is_a_zip() -> None:
    """Regression: "%PDF-" inside the first KB of a zip (a stored PDF member) must not make it a PDF."""
    import io
    import zipfile

    from award.intake.filetypes import sniff

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("证实性材料.pdf", b"%PDF-1.4\n% test\n")
    assert sniff(buf.getvalue()) == "zip"
