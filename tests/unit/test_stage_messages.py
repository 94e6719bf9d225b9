"""templates/{opinions,publicity,completeness}/messages.yaml render as the code's old strings did (keys, placeholders
and leftovers are checked for every catalogue in test_messages.py)."""

from __future__ import annotations

from datetime import date

from award.templating import message


def test_messages_render_as_before() -> None:
    """The texts the f-strings and concatenations used to build, byte for byte."""
    assert message("opinions", "opinions.doc_number", prefix="质奖函〔2023〕", count=3) == "质奖函〔2023〕3号"
    assert message("opinions", "opinions.filenames.letter", season_label="第五届中国质量奖", token="YJ-1") == (
        "关于征求第五届中国质量奖推荐对象意见的函（YJ-1）.docx"
    )
    assert message("opinions", "opinions.filenames.sheet", token="A&B") == "征求意见回复表（A&B）.xlsx"
    assert message("opinions", "opinions.reason.reopened", late=True) == "收到部门逾期异议意见，重新研究决定"
    assert message("opinions", "opinions.reason.reopened", late=False) == "收到部门异议意见，重新研究决定"
    assert message("opinions", "opinions.reason.default_applied", meaning="无异议") == (  # not the code no_objection
        "逾期未回复，视为无异议"
    )
    assert message("publicity", "publicity.reason.upheld", reason="材料<不实>") == "公示异议成立：材料<不实>"
    assert message("publicity", "publicity.reason.listed", window_id=7) == "列入公示（公示 7）"
    assert message("completeness", "correction.reason.closed_incomplete", due=date(2023, 6, 1).isoformat()) == (
        "逾期未补正（补正截止日期 2023-06-01）"
    )
