"""Personal data in free text: ID numbers, phones and e-mail addresses are found and masked."""

from __future__ import annotations

import pytest

from award.identity import has_pii, mask_pii_text


@pytest.mark.parametrize(("text", "masked"), [
    ("身份证号62010219800101123X。", "身份证号620***********123X。"),
    ("旧证号620102800101123", "旧证号620********1123"),
    ("电话13912345678，", "电话139****5678，"),
    ("手机 139-1234-5678 或 +86 139 1234 5678", "手机 139****5678 或 139****5678"),
    ("座机0931-8812345", "座机0931-***2345"),
    ("全角１３９１２３４５６７８", "全角139****5678"),
    ("邮箱 wang.li@qq.com。", "邮箱 w***@qq.com。"),
])
def test_masks_personal_data(text: str, masked: str) -> None:
    assert mask_pii_text(text) == masked
    assert has_pii(text)


@pytest.mark.parametrize("text", [
    "编号GS-2023-0001，２０２３年５月２０日，营业收入1000000元",
    "统一社会信用代码91620100MA71234X5Y",
    "",
])
def test_leaves_other_text_alone(text: str) -> None:
    assert mask_pii_text(text) == text and not has_pii(text)
