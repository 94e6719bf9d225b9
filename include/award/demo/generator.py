"""Synthetic applications for demos, tests and benchmarks (all names and numbers are made up).

``generate(out_dir, count, seed, season=...)`` writes ``count`` submissions for all five categories:

* ``out_dir/mail/NNNN/``: one folder per e-mailed application: the files plus ``meta.json``
  (``from``, ``to``, ``subject`` like 第五届中国质量奖申报材料-单位名称, ``sent_at``, ``attachments``).
* ``out_dir/city/<city>/<applicant name>/``: applications a city forwards, and
  ``out_dir/city/<city>/<city>推荐函.pdf``, the city's recommendation letter listing them.
* ``out_dir/manifest.json``: every submission with its key, category, channel, expected defect
  codes, expected field values and files (paths relative to ``out_dir``).

Each application has the filled .docx form (some deliberately messy), its PDF copy, 1-3 evidence PDFs
(证实性材料), the internal-publicity proof (内部公示情况说明) and, where the season requires it, the
unit's opinion (所在单位意见). A ``defect_share`` of submissions carry one defect (see ``DEFECTS``).
``two_channels`` yields two submissions (one mailed, one in a city batch) that both count towards
``count``. The same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from award.calendar import default_calendar
from award.choices import normalize_choice
from award.enums import ApplicationChannel
from award.forms.docx_io import fill_form_bytes
from award.forms.pdf import render_pdf_copy_bytes, text_pdf_bytes
from award.forms.spec import FormSpec, applicant_key, form_for_category
from award.identity import CREDIT_CODE_ALPHABET, make_credit_code, make_id_number
from award.seasonfile import yaml_load

if TYPE_CHECKING:
    from award.config import Season

DEFECTS = (
    "missing_material",  # no publicity proof or no PDF copy
    "bad_check_char",  # credit code / ID number check character wrong
    "late",  # mailed after the provincial deadline
    "two_channels",  # same applicant mailed and in a city batch
    "defence_industry",  # 是否国防工业、武器研发制造维修设计单位 = 是
    "ineligible_school",  # 学校类型 = 普通高中 / 高等学校 (excluded by the notice)
    "short_publicity",  # internal publicity shorter than 5 working days
    "pdf_mismatch",  # the PDF copy's name differs from the form
)
CATEGORY_WEIGHTS = {"organization": 30, "education": 10, "sme": 25, "team": 20, "individual": 15}
MESSY_SHARE = 0.4
NAMES_FILE = Path(__file__).resolve().parent / "names.yaml"
SCHOOL_TYPES = ("小学", "初中", "职业技术学校", "职业技术学校", "初级中学", "中等职业学校")  # synonyms too
PERSON_GROUPS = ("一线工作人员", "各类组织质量管理人员", "质量领域专家学者")


@dataclass
class GeneratedApplication:
    """One generated submission as listed in the manifest."""

    index: int
    key: str
    name: str
    category: str
    form_id: str
    channel: str
    city: str
    defects: list[str]
    folder: str
    files: list[str]
    fields: dict[str, str]
    sent_at: str | None = None
    sender: str | None = None
    messy: bool = False


@dataclass
class GenerationResult:
    """What ``generate`` wrote."""

    out_dir: Path
    seed: int
    applications: list[GeneratedApplication] = field(default_factory=list)
    city_letters: dict[str, str] = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "manifest.json"

    def summary(self) -> dict[str, Any]:
        """Counts per category, channel and defect."""
        return {
            "out_dir": str(self.out_dir),
            "seed": self.seed,
            "count": len(self.applications),
            "by_category": dict(sorted(Counter(a.category for a in self.applications).items())),
            "by_channel": dict(sorted(Counter(a.channel for a in self.applications).items())),
            "by_defect": dict(sorted(Counter(d for a in self.applications for d in a.defects).items())),
            "clean": sum(1 for a in self.applications if not a.defects),
            "city_letters": len(self.city_letters),
        }


@lru_cache(maxsize=1)
def _words() -> dict[str, Any]:
    words: dict[str, Any] = yaml_load(NAMES_FILE.read_text(encoding="utf-8"))
    return words


def _cn_date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


class _Maker:
    """Draws plausible applicants from a seeded rng."""

    def __init__(self, rng: random.Random, season: Season) -> None:
        self.rng = rng
        self.season = season
        self.words = _words()
        self.cities = list(season.province.cities)
        self.calendar = default_calendar(tuple(season.calendar_overrides))
        self.used_names: set[str] = set()
        self.used_codes: set[str] = set()

    # -- small pieces
    def region(self, city: str) -> str:
        """A 6-digit region code in the city (from the season's GB/T 2260 codes, else made up in the province)."""
        province = self.season.province
        if city in province.city_codes:
            return f"{province.city_codes[city]}02"
        return f"{province.code or '10'}{self.cities.index(city) % 99 + 1:02d}02"

    def unit_name(self, city: str) -> str:
        """The recommending unit of the city (the season's), or the city itself."""
        unit = self.season.find_unit(city)
        return unit.name if unit is not None else city

    def person(self, female: bool | None = None) -> tuple[str, bool]:
        rng, w = self.rng, self.words
        female = rng.random() < 0.4 if female is None else female
        return rng.choice(w["surnames"]) + rng.choice(w["given_female" if female else "given_male"]), female

    def phone(self) -> str:
        return self.rng.choice(["138", "139", "135", "136", "150", "158", "177", "187", "189"]) + "".join(
            self.rng.choice("0123456789") for _ in range(8)
        )

    def email(self) -> str:
        rng = self.rng
        user = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 8)))
        return f"{user}{rng.randint(1, 999)}@{rng.choice(['163.com', 'qq.com', '126.com', 'example.com'])}"

    def code(self, city: str) -> str:
        while True:
            code = make_credit_code(self.rng, self.region(city))
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def unique(self, make: Callable[[], str]) -> str:
        for _ in range(50):
            name = make()
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        name = make() + f"（{len(self.used_names)}）"
        self.used_names.add(name)
        return name

    def company(self, city: str, industry_word: str) -> str:
        rng, w = self.rng, self.words
        short = city.removesuffix("市")
        return self.unique(
            lambda: f"{short}{rng.choice(w['brand_words'])}{industry_word}{rng.choice(w['company_suffixes'])}"
        )

    def publicity(self, short: bool) -> tuple[date, date]:
        rng, cal = self.rng, self.calendar
        opened = self.season.dates.application_open
        start = cal.next_workday(opened - timedelta(days=rng.randint(5, 40)), inclusive=True)
        end = cal.add_workdays(start, rng.randint(2, 4) if short else rng.choice((5, 5, 6, 7)))
        return start, end

    def sent_at(self, late: bool) -> datetime:
        rng, dates = self.rng, self.season.dates
        deadline = dates.provincial_deadline
        if late:
            return deadline + timedelta(minutes=rng.randint(1, 3 * 24 * 60))
        opened = datetime.combine(dates.application_open, time(9, 0), tzinfo=deadline.tzinfo)
        span = int((deadline - opened).total_seconds() // 60) - 1
        return opened + timedelta(minutes=rng.randint(0, span))

    # -- one applicant's form values
    def values(self, category: str, city: str, defect: str | None) -> dict[str, str]:
        rng, w = self.rng, self.words
        contact, _ = self.person()
        start, end = self.publicity(short=defect == "short_publicity")
        common = {
            "city": city,
            "violations": "无",
            "summary": "\n".join(rng.sample(w["summaries"], 2)),
            "publicity_start": start.isoformat(),
            "publicity_end": end.isoformat(),
            "email": self.email(),
            "other_channels": "否",
            "recommending_unit": self.unit_name(city),
            "defence": "是" if defect == "defence_industry" else "否",
        }
        industry = rng.choice(w["industries"])
        org_common = {
            "address": f"{city}{rng.choice(['经济开发区', '高新区', '滨江路', '人民路', '工业园区'])}{rng.randint(1, 999)}号",
            "industry": industry["name"],
            "founded": date(rng.randint(1985, 2016), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            "branch": "否",
            "contact": contact,
            "contact_phone": self.phone(),
            "quality_model": rng.choice(w["quality_models"]),
        }
        if category in ("organization", "sme"):
            v = {
                "org_name": self.company(city, industry["word"]),
                "credit_code": self.code(city),
                "org_nature": rng.choice(w["org_natures"]),
                **org_common,
                **common,
            }
            if category == "sme":
                v["employees"] = str(rng.randint(20, 299))
                v["revenue"] = str(rng.randint(500, 39000))
            return v
        if category == "education":
            school_type = (
                rng.choice(["普通高中", "高等学校"])
                if defect == "ineligible_school"
                else rng.choice(SCHOOL_TYPES)
            )
            short = city.removesuffix("市")
            kind = {
                "小学": "小学",
                "初中": "初级中学",
                "初级中学": "初级中学",
                "职业技术学校": "职业技术学校",
                "中等职业学校": "中等职业学校",
                "普通高中": "高级中学",
                "高等学校": "职业技术学院",
            }[school_type]
            name = self.unique(lambda: f"{short}市{rng.choice(w['school_words'])}{kind}")
            if school_type == "高等学校":
                name = name.replace(f"{short}市", short, 1)
            org_common.update(industry="教育", quality_model=rng.choice(["全面质量管理育人模式", "ISO 9001 教学质量管理体系"]))
            return {
                "org_name": name,
                "credit_code": self.code(city),
                "school_type": school_type,
                "org_nature": "事业单位",
                **org_common,
                **common,
            }
        if category == "team":
            org = self.company(city, industry["word"])
            team_type = rng.choice(["一线班组", "QC小组"])
            word = rng.choice(w["team_words"])
            team_name = self.unique(
                lambda: f"{rng.choice(w['team_workshops'])}{word}{'班组' if team_type == '一线班组' else 'QC小组'}"
                + ("" if rng.random() < 0.5 else f"（{org.removesuffix('有限公司')[:6]}）")
            )
            leader, _ = self.person()
            return {
                "team_name": team_name,
                "team_type": team_type,
                "members": str(rng.randint(5, 30)),
                "team_leader": leader,
                "org_name": org,
                "credit_code": self.code(city),
                **{k: v for k, v in org_common.items() if k not in ("industry",)},
                **common,
                "founded": date(rng.randint(2005, 2020), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
            }
        # individual
        group = rng.choice(PERSON_GROUPS)
        female = rng.random() < 0.35
        name = self.unique(lambda: self.person(female)[0])
        birth = date(rng.randint(1962, 1992), rng.randint(1, 12), rng.randint(1, 28))
        title = rng.choice(
            w[dict(zip(PERSON_GROUPS, ("titles_worker", "titles_quality", "titles_expert"), strict=True))[group]]
        )
        return {
            "name": name,
            "gender": "女" if female else "男",
            "id_number": make_id_number(rng, birth, self.region(city), female=female),
            "birth_date": birth.isoformat(),
            "employer": self.company(city, industry["word"]),
            "credit_code": self.code(city),
            "title": title,
            "person_group": group,
            "phone": self.phone(),
            **common,
        }


def _break_check_char(code: str, rng: random.Random, id_number: bool) -> str:
    alphabet = "0123456789X" if id_number else CREDIT_CODE_ALPHABET
    return code[:17] + rng.choice([c for c in alphabet if c != code[17]])


def _mismatch_name(name: str, rng: random.Random) -> str:
    for a, b in (("股份有限公司", "有限公司"), ("有限责任公司", "有限公司"), ("集团有限公司", "有限公司")):
        if name.endswith(a):
            return name.removesuffix(a) + b
    if name.endswith("有限公司"):
        return name.removesuffix("有限公司") + "股份有限公司"
    chars = list(name)
    pos = rng.randrange(len(chars))
    chars[pos] = rng.choice([c for c in "华明建国德金东" if c != chars[pos]])
    return "".join(chars)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _safe_dir_name(name: str) -> str:
    return "".join("_" if c in '/\\:*?"<>|' else c for c in name).strip() or "_"


def _check_arguments(count: int, defect_share: float, channels: tuple[str, ...]) -> tuple[str, ...]:
    """The channels as a tuple; ``ValueError`` for a negative count, a share outside 0..1 or unknown channels."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if not 0.0 <= defect_share <= 1.0:
        raise ValueError("defect_share must be between 0 and 1")
    channels = tuple(channels)
    if not channels or set(channels) - {"mail", "city"}:
        raise ValueError("channels must be a non-empty subset of ('mail', 'city')")
    return channels


def _pick_defect(
    rng: random.Random, defect_share: float, room: int, channel: str, channels: tuple[str, ...], category: str
) -> str | None:
    """The one defect of the next submission (one ``rng`` draw, two with a defect), or None."""
    if not rng.random() < defect_share:
        return None
    options = [
        d
        for d in DEFECTS
        if not (d == "late" and channel != ApplicationChannel.MAIL)
        and not (d == "two_channels" and (len(channels) < 2 or room < 2))
        and not (d == "ineligible_school" and category != "education")
    ]
    return rng.choice(options)


def _draw_values(
    maker: _Maker, rng: random.Random, category: str, city: str, defect: str | None
) -> tuple[FormSpec, dict[str, str], dict[str, str]]:
    """The form, its values and the values of its PDF copy, with the defect applied."""
    spec = form_for_category(category)
    drawn = maker.values(category, city, defect)
    values = {key: drawn.get(key, "") for key in spec.keys}
    if defect == "bad_check_char":
        values[spec.code_field] = _break_check_char(values[spec.code_field], rng, spec.code_field == "id_number")
    pdf_values = dict(values)
    if defect == "pdf_mismatch":
        pdf_values[spec.name_field] = _mismatch_name(values[spec.name_field], rng)
    return spec, values, pdf_values


def _channel_values(
    values: dict[str, str], pdf_values: dict[str, str], sub_channel: str, city: str, app_rng: random.Random
) -> tuple[dict[str, str], dict[str, str]]:
    """Copies of the form and PDF values with the channel fields of one submission filled in."""
    v = dict(values)
    pv = dict(pdf_values)
    for target in (v, pv):
        target["channel"] = "市州推荐" if sub_channel == "city" else ("省直推荐" if app_rng.random() < 0.7 else "")
        target["channel_city"] = city if sub_channel == "city" else ""
    return v, pv


def _send_mail(
    out_dir: Path,
    folder: Path,
    app: GeneratedApplication,
    v: dict[str, str],
    files: list[str],
    *,
    sent: datetime,
    season: Season,
    seed: int,
    mail_no: int,
) -> None:
    """Record the sending on ``app`` and write the mail's ``meta.json``."""
    app.sent_at = sent.isoformat()
    app.sender = v["email"]
    meta = {
        "from": v["email"],
        "from_name": v.get("contact") or v.get("name") or "",
        "to": str(season.recommending_unit.email),
        "subject": f"{season.award.edition}{season.award.name}申报材料-{app.name}",
        "sent_at": app.sent_at,
        "message_id": f"<demo-{seed}-{mail_no:04d}@mail.example.com>",
        "attachments": files,
    }
    _write(out_dir / folder / "meta.json", json.dumps(meta, ensure_ascii=False, indent=2).encode())


def _write_city_letters(
    out_dir: Path,
    result: GenerationResult,
    city_batches: dict[str, list[GeneratedApplication]],
    season: Season,
    maker: _Maker,
) -> None:
    """Write each city's recommendation letter (in the order of the cities) and list it in ``result``."""
    for city in sorted(city_batches, key=maker.cities.index):
        rel = Path("city") / city / f"{city}推荐函.pdf"
        _write(out_dir / rel, _unit_opinion(city, [(a.name, a.category) for a in city_batches[city]], season, maker))
        result.city_letters[city] = rel.as_posix()


def _write_manifest(
    result: GenerationResult, season: Season, seed: int, defect_share: float, channels: tuple[str, ...]
) -> None:
    """Write ``manifest.json``."""
    manifest = {
        "season_id": season.season_id,
        "seed": seed,
        "count": len(result.applications),
        "defect_share": defect_share,
        "channels": list(channels),
        "applications": [asdict(a) for a in result.applications],
        "city_letters": result.city_letters,
    }
    _write(result.manifest_path, json.dumps(manifest, ensure_ascii=False, indent=1).encode())


def generate(
    out_dir: Path,
    count: int,
    seed: int,
    *,
    season: Season,
    defect_share: float = 0.2,
    channels: tuple[str, ...] = ("mail", "city"),
) -> GenerationResult:
    """Write ``count`` synthetic submissions under ``out_dir`` (see the module docstring)."""
    channels = _check_arguments(count, defect_share, channels)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    maker = _Maker(rng, season)
    result = GenerationResult(out_dir=out_dir, seed=seed)
    city_batches: dict[str, list[GeneratedApplication]] = {}
    mail_no = 0
    categories = [c for c in CATEGORY_WEIGHTS if c in season.categories]
    weights = [CATEGORY_WEIGHTS[c] for c in categories]

    while len(result.applications) < count:
        category = rng.choices(categories, weights)[0]
        channel = rng.choice(channels)
        city = rng.choice(maker.cities)
        defect = _pick_defect(rng, defect_share, count - len(result.applications), channel, channels, category)
        spec, values, pdf_values = _draw_values(maker, rng, category, city, defect)
        missing = rng.choice(["publicity_proof", "form_pdf"]) if defect == "missing_material" else None
        app_rng = random.Random(rng.getrandbits(64))
        messy = app_rng.random() < MESSY_SHARE
        subs = [channel] if defect != "two_channels" else ["mail", "city"]
        for sub_channel in subs:
            v, pv = _channel_values(values, pdf_values, sub_channel, city, app_rng)
            name = v[spec.name_field]
            if sub_channel == "mail":
                mail_no += 1
                folder = Path("mail") / f"{mail_no:04d}"
            else:
                folder = Path("city") / city / _safe_dir_name(name)
            opinion = None
            if sub_channel == "mail" and season.process.unit_opinion == "every_application":
                opinion = _unit_opinion(city, [(name, category)], season, maker)
            files = _write_application(
                out_dir / folder, spec.form_id, category, v, pv, season, app_rng, messy=messy, missing=missing,
                unit_opinion=opinion,
            )
            app = GeneratedApplication(
                index=len(result.applications) + 1,
                key=applicant_key(spec.form_id, v),
                name=name,
                category=category,
                form_id=spec.form_id,
                channel=sub_channel,
                city=city,
                defects=[defect] if defect else [],
                folder=folder.as_posix(),
                files=[(folder / f).as_posix() for f in files],
                fields={k: normalize_choice(k, x) for k, x in v.items()},  # what the parser reads back
                messy=messy,
            )
            if sub_channel == "mail":
                sent = maker.sent_at(late=defect == "late")
                _send_mail(out_dir, folder, app, v, files, sent=sent, season=season, seed=seed, mail_no=mail_no)
            else:
                city_batches.setdefault(city, []).append(app)
            result.applications.append(app)

    _write_city_letters(out_dir, result, city_batches, season, maker)
    _write_manifest(result, season, seed, defect_share, channels)
    return result


def _write_application(
    folder: Path,
    form_id: str,
    category: str,
    values: dict[str, str],
    pdf_values: dict[str, str],
    season: Season,
    rng: random.Random,
    *,
    messy: bool,
    missing: str | None,
    unit_opinion: bytes | None = None,
) -> list[str]:
    """Write one application's files into ``folder``; return their names in order."""
    spec = form_for_category(category)
    edition = season.award.edition
    name = values[spec.name_field]
    stem = _safe_dir_name(name)
    files: dict[str, bytes] = {}
    files[f"{stem}-申报表.docx"] = fill_form_bytes(
        form_id, values, messiness=random.Random(rng.getrandbits(64)) if messy else None, edition=edition
    )
    if missing != "form_pdf":
        files[f"{stem}-申报表.pdf"] = render_pdf_copy_bytes(form_id, pdf_values, edition=edition)
    kinds = _words()["evidence"][category]
    for i, kind in enumerate(rng.sample(kinds, rng.randint(1, min(3, len(kinds)))), start=1):
        number = f"{rng.choice(['ZJ', 'CQC', 'QA'])}{rng.randint(10**7, 10**8 - 1)}"
        issued = date(rng.randint(2018, 2022), rng.randint(1, 12), rng.randint(1, 28))
        files[f"证实性材料{i}-{kind}.pdf"] = text_pdf_bytes(
            kind,
            [
                f"证书/证明编号：{number}",
                f"持有者：{name}",
                f"{name}经审核，符合相关要求，特发此{'证' if '证书' in kind else '证明'}。",
                f"发证日期：{_cn_date(issued)}",
            ],
            signature=["（发证机构盖章）"],
        )
    unit = values.get("org_name") or values.get("employer") or name
    if missing != "publicity_proof":
        start, end = date.fromisoformat(values["publicity_start"]), date.fromisoformat(values["publicity_end"])
        files["内部公示情况说明.pdf"] = text_pdf_bytes(
            "内部公示情况说明",
            [
                f"根据{edition}{season.award.name}申报工作要求，{unit}于{_cn_date(start)}至{_cn_date(end)}"
                f"在本单位内部对{name}的申报材料进行了公示。公示期间未收到任何异议。",
                f"公示开始日期：{start.isoformat()}",
                f"公示结束日期：{end.isoformat()}",
                "公示地点：单位办公楼公告栏及内部网站",
            ],
            signature=[f"{unit}（盖章）", _cn_date(end + timedelta(days=1))],
        )
    if "unit_opinion" in season.category(category).required_materials:
        files["所在单位意见.pdf"] = text_pdf_bytes(
            "所在单位推荐意见",
            [f"经研究，同意推荐{name}申报{edition}{season.award.name}。", "所填报内容真实、准确，特此说明。"],
            signature=[f"{unit}（盖章）"],
        )
    if unit_opinion is not None:
        files["推荐单位审核推荐意见.pdf"] = unit_opinion
    for fname, data in files.items():
        _write(folder / fname, data)
    return list(files)


def _unit_opinion(city: str, apps: list[tuple[str, str]], season: Season, maker: _Maker) -> bytes:
    """The recommending unit's 审核推荐意见 listing the applications it recommends (no ID numbers).

    Where the season leaves 征求意见 and 公示 to the recommending unit, the letter states both, with dates
    (a 5-working-day publicity ending two working days before the provincial deadline).
    """
    edition = season.award.edition
    labels: dict[str, str] = {cid: cat.label for cid, cat in season.categories.items()}
    unit = maker.unit_name(city)
    cal = maker.calendar
    deadline = season.dates.provincial_deadline.date()
    lines = [
        f"{season.recommending_unit.name}：",
        f"根据{edition}{season.award.name}推荐工作的通知要求，经我局审核，现推荐以下{len(apps)}个申报对象：",
    ]
    lines += [f"{i}. {name}（{labels.get(category, category)}）" for i, (name, category) in enumerate(apps, start=1)]
    unit_obj = season.find_unit(city)
    if season.first_round_for(unit_obj.id if unit_obj else None) == "recommending_unit":
        end = cal.workdays_before(deadline, 2)
        start = cal.workdays_before(end, season.publicity.min_workdays - 1)
        asked = cal.workdays_before(start, 3)
        lines.append(f"我局已于{_cn_date(asked)}就上述申报对象征求相关部门意见，各部门均无异议。")
        lines.append(f"上述申报对象已于{_cn_date(start)}至{_cn_date(end)}在本地区进行了公示，公示期间未收到异议。")
    lines.append("以上申报对象材料真实、完整，请予审核。")
    return text_pdf_bytes(
        f"{unit}关于推荐{edition}{season.award.name}申报对象的审核推荐意见",
        lines,
        signature=[unit, _cn_date(deadline - timedelta(days=3))],
    )
