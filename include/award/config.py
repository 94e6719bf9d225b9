"""The season configuration: one YAML file per award season, validated with pydantic.

A wrong or missing key fails the load with a message naming the key (``SeasonConfigError``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationError, field_validator, model_validator

from award.choices import season_choice_errors
from award.identity import validate_phone
from award.seasonfile import DEFAULT_SEASON_FILE as DEFAULT_SEASON_FILE  # re-exported
from award.seasonfile import PACKAGE_DIR as PACKAGE_DIR  # re-exported
from award.seasonfile import season_path, yaml_load

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)

CategoryId = Literal["organization", "education", "sme", "team", "individual"]
MaterialKind = Literal[
    "form_docx", "form_pdf", "evidence", "publicity_proof", "unit_opinion", "city_recommendation", "other"
]
GroupId = Literal["organization", "individual"]


class SeasonConfigError(ValueError):
    """The season file is missing, unreadable or invalid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwardInfo(_Strict):
    name: str
    edition: str


class RecommendingUnit(_Strict):
    """The provincial office that issues the call and recommends to the national level (the notice's 联系人 block)."""

    name: str = Field(description="the issuer, e.g. 某省质量强省建设协调推进领导小组办公室")
    handled_by: str = Field(default="", description="who handles the work, e.g. 省市场监管局质量发展局")
    contact: str
    phone: str
    fax: str = ""
    email: EmailStr
    address: str
    postcode: str = Field(default="", pattern=r"^(\d{6})?$")
    doc_prefix: str = Field(description="document number prefix, e.g. 某质强组办〔2023〕")
    ops_email: EmailStr = Field(description="where failure notices and staff alerts go")


UnitKind = Literal["city", "district", "member"]


class LocalUnit(_Strict):
    """A recommending unit (推荐单位) below the province: a 市州 bureau, a district bureau or a member department."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    kind: UnitKind
    city: str | None = Field(default=None, description="the 市州 a city bureau serves (kind city)")
    aliases: list[str] = Field(default_factory=list, description="other names applicants write for this unit")
    contact: str = ""
    phone: str = ""
    email: EmailStr | None = None
    address: str = ""

    @property
    def names(self) -> list[str]:
        """Every name that identifies this unit (its name, its city, its aliases)."""
        return [self.name, *([self.city] if self.city else []), *self.aliases]


class Province(_Strict):
    name: str
    code: str | None = Field(default=None, pattern=r"^\d{2}$", description="GB/T 2260 province code, e.g. 62")
    cities: list[str] = Field(min_length=1)
    city_codes: dict[str, str] = Field(default_factory=dict, description="GB/T 2260 code of each city, e.g. 6201")

    @model_validator(mode="after")
    def _codes_inside(self) -> Province:
        for city, code in self.city_codes.items():
            if city not in self.cities:
                raise ValueError(f"city_codes.{city}: not one of province.cities")
            if not re.fullmatch(r"\d{4}", code):
                raise ValueError(f"city_codes.{city}: {code!r} is not a 4-digit GB/T 2260 code")
            if self.code and not code.startswith(self.code):
                raise ValueError(f"cities: {city} ({code}) lies outside {self.name} ({self.code})")
        return self


class Dates(_Strict):
    application_open: date
    provincial_deadline: datetime
    national_deadline: datetime
    export_lead_workdays: int = Field(default=5, ge=0)

    @field_validator("provincial_deadline", "national_deadline", mode="after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=TZ) if value.tzinfo is None else value.astimezone(TZ)

    @model_validator(mode="after")
    def _ordered(self) -> Dates:
        if self.provincial_deadline.date() < self.application_open:
            raise ValueError("dates.provincial_deadline is before dates.application_open")
        if self.national_deadline < self.provincial_deadline:
            raise ValueError("dates.national_deadline is before dates.provincial_deadline")
        return self


class Category(_Strict):
    label: str
    form: Literal["form1", "form2", "form3", "form4", "form5"]
    group: GroupId
    required_materials: list[MaterialKind]
    rules: list[str] = Field(default_factory=list, description="rule ids checked for this category")
    choices: dict[str, list[str]] = Field(default_factory=dict,
                                          description="a choice field's options, narrower than the form's")


class Quota(_Strict):
    """附件7: how many candidates the province may recommend in a group (one ranked list, no award tier).

    The national committee chooses between 中国质量奖 and 提名奖; the province only ranks. A legacy mapping
    ``{award: A, nomination: N}`` is read as ``places: A + N``.
    """

    places: int = Field(ge=0)

    @model_validator(mode="before")
    @classmethod
    def _legacy_tiers(cls, data: object) -> object:
        if isinstance(data, int) and not isinstance(data, bool):
            return {"places": data}
        if isinstance(data, dict) and "places" not in data and {"award", "nomination"} & set(data):
            rest = {k: v for k, v in data.items() if k not in ("award", "nomination")}
            return {**rest, "places": int(data.get("award") or 0) + int(data.get("nomination") or 0)}
        return data


class Department(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    email: EmailStr
    categories: list[CategoryId]
    reply_workdays: int = Field(default=5, ge=1)
    reminder_workdays_before: list[int] = Field(default_factory=lambda: [2])
    default_on_silence: Literal["no_objection", "follow_up"] = "no_objection"


class Publicity(_Strict):
    min_workdays: int = Field(default=5, ge=1)
    cutoff: time = time(12, 0)
    objection_email: EmailStr
    contact: str
    contact_phone: str
    location: str = Field(description="where the notice is published (shared-storage prefix)")


class Correction(_Strict):
    workdays: int = Field(default=5, ge=1)
    reminder_workdays_before: int = Field(default=2, ge=0)


SummaryField = Literal[
    "nn", "name", "category", "city", "work_unit", "recommending_unit", "contact", "phone", "code", "submission_no",
]
DEFAULT_SUMMARY_FIELDS: tuple[SummaryField, ...] = (
    "nn", "name", "category", "city", "work_unit", "recommending_unit", "contact", "phone",
)


class SummaryColumn(_Strict):
    """One column of the 推荐名单汇总表 (附件8): what it shows and, optionally, its header (default: the catalogue's)."""

    field: SummaryField
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_id(cls, data: object) -> object:
        return {"field": data} if isinstance(data, str) else data


class National(_Strict):
    """The national secretariat: where the package goes (post and e-mail) and how the mail is addressed."""

    recipient_email: EmailStr
    storage_uri: str
    attachment_limit_mb: int = Field(default=20, ge=1, description="mail size limit; above it: numbered volumes")
    recipient_name: str = Field(description="addressee, e.g. 中国质量奖评选表彰委员会秘书处")
    recipient_office: str | None = Field(default=None, description="the office handling it, e.g. 质量管理处")
    postal_address: str | None = None
    postcode: str | None = Field(default=None, pattern=r"^\d{6}$")
    sender_name: str | None = Field(default=None, description="推荐单位名称 in the mail subject "
                                                              "(default: recommending_unit.name)")
    contact_name: str | None = Field(default=None, description="联系人 in the subject (default: recommending_unit.contact)")
    contact_mobile: str | None = Field(default=None, description="手机号码 in the subject: a mobile, never a landline")
    summary_columns: list[SummaryColumn] = Field(
        default_factory=lambda: [SummaryColumn(field=f) for f in DEFAULT_SUMMARY_FIELDS], min_length=1)

    @field_validator("contact_mobile", mode="after")
    @classmethod
    def _mobile(cls, value: str | None) -> str | None:
        if value is None:
            return None
        checked = validate_phone(value)
        if not (checked.valid and checked.normalized.isdigit() and checked.normalized.startswith("1")):
            raise ValueError(f"{value!r} is not a mobile number (11 digits starting with 1); the national mail "
                             "subject needs a mobile, not a landline")
        return checked.normalized


class LetterSpec(_Strict):
    """One document of the package: who issues and signs it, and optionally its wording (Jinja2 paragraphs).

    Without ``body``/``title`` the template's default wording is used (award/recommendation/templates/recommendation/*.yaml.j2).
    """

    issuer: str = Field(description="发文机关标志, e.g. 某省质量强省建设协调推进领导小组")
    signature: str = Field(description="署名")
    doc_prefix: str | None = Field(default=None, description="default: recommending_unit.doc_prefix")
    title: str | None = None
    body: list[str] | None = Field(default=None, min_length=1)


class Letters(_Strict):
    """推荐函 (the leadership group's 推荐意见) and 审核意见 (the provincial market-regulation bureau's)."""

    recommendation: LetterSpec
    audit_opinion: LetterSpec


class PriorityWinner(_Strict):
    """A winner of the provincial government quality award or of its nomination award (ranked first)."""

    name: str
    key: str = Field(description="credit code or ID number")
    award: str = Field(description="e.g. 某省人民政府质量奖 or 某省人民政府质量奖提名奖")
    year: int = Field(ge=1990, le=2100)


class Scores(_Strict):
    required_columns: list[str] = Field(default_factory=lambda: ["申报编号", "得分"])
    minimum: float = 0
    maximum: float = 1000


class Limits(_Strict):
    max_file_mb: int = Field(default=50, ge=1)
    zip_max_total_mb: int = Field(default=200, ge=1)
    zip_max_ratio: int = Field(default=100, ge=2)
    zip_max_members: int = Field(default=500, ge=1)
    max_mail_mb: int = Field(default=50, ge=1)  # a larger mail is refused before it is decoded
    max_attachments: int = Field(default=100, ge=1)  # attachments of one mail
    submission_max_files: int = Field(default=500, ge=1)  # files of one submission, archives expanded
    submission_max_total_mb: int = Field(default=300, ge=1)  # their total size


StageId = Literal["completeness", "consultation", "first_publicity", "scores", "candidate_publicity", "approval",
                  "package"]
FirstRound = Literal["province", "recommending_unit"]


class StageSpec(_Strict):
    """One step the province runs after the provincial deadline, with the working days it takes."""

    id: StageId
    workdays: int = Field(ge=0)


class Process(_Strict):
    """Who does what: the two settings (see README, "The provincial process").

    * ``first_round``: who consults the departments (征求意见) and runs the first publicity (公示):
      ``province`` (the office itself, after completeness) or ``recommending_unit`` (the unit did both; its
      审核推荐意见 proves it, with dates).
    * ``unit_opinion``: which applications need the recommending unit's 审核推荐意见: ``every_application``
      (whatever the channel) or ``city_uploads`` (only folders a city uploads).
    """

    first_round: FirstRound = "province"
    unit_opinion: Literal["every_application", "city_uploads"] = "city_uploads"
    by_unit: dict[str, FirstRound] = Field(default_factory=dict,
                                           description="a recommending unit (id) whose first round differs")
    stages: list[StageSpec] = Field(default_factory=list, description="the province's steps, in order")
    paper_copies: int = Field(default=0, ge=0, description="bound paper copies per application (0: none asked)")
    usb_required: bool = False

    @model_validator(mode="after")
    def _stages_match(self) -> Process:
        ids = [s.id for s in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError("stages: a stage is listed twice")
        if self.first_round == "recommending_unit" and {"consultation", "first_publicity"} & set(ids):
            raise ValueError("stages: consultation/first_publicity are the recommending unit's when "
                             "first_round is recommending_unit")
        return self


class Season(_Strict):
    """A whole season's configuration."""

    season_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    submission_prefix: str = Field(default="GS", pattern=r"^[A-Z]{1,4}$")
    timezone: Literal["Asia/Shanghai"] = "Asia/Shanghai"
    award: AwardInfo
    recommending_unit: RecommendingUnit
    province: Province
    recommending_units: list[LocalUnit] = Field(default_factory=list)
    process: Process = Process()
    dates: Dates
    categories: dict[CategoryId, Category]
    quotas: dict[GroupId, Quota]
    departments: list[Department] = Field(default_factory=list)
    publicity: Publicity
    correction: Correction = Correction()
    national: National
    letters: Letters | None = Field(default=None, description="default: both issued and signed by recommending_unit")
    priority_winners: list[PriorityWinner] = Field(default_factory=list)
    scores: Scores = Scores()
    limits: Limits = Limits()
    calendar_overrides: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _units_known(self) -> Season:
        ids = [u.id for u in self.recommending_units]
        dup = next((i for i in ids if ids.count(i) > 1), None)
        if dup:
            raise ValueError(f"recommending_units: id {dup!r} is listed twice")
        for i, unit in enumerate(self.recommending_units):
            if unit.kind == "city" and unit.city not in self.province.cities:
                raise ValueError(f"recommending_units.{i}.city: {unit.city!r} is not a city of {self.province.name} "
                                 f"(province.cities)")
        for unit_id in self.process.by_unit:
            if unit_id not in ids:
                raise ValueError(f"process.by_unit.{unit_id}: unknown recommending unit (recommending_units)")
        return self

    def unit(self, unit_id: str) -> LocalUnit:
        """A recommending unit by id, or KeyError naming it."""
        for u in self.recommending_units:
            if u.id == unit_id:
                return u
        raise KeyError(f"unknown recommending unit {unit_id!r}")

    def find_unit(self, text: str | None) -> LocalUnit | None:
        """The recommending unit a name, a city or an alias stands for (exact after removing spaces), or None."""
        if not text:
            return None
        wanted = re.sub(r"\s+", "", text)
        for u in self.recommending_units:
            if wanted == u.id or wanted in (re.sub(r"\s+", "", n) for n in u.names):
                return u
        return None

    def first_round_for(self, unit_id: str | None) -> FirstRound:
        """Who runs 征求意见 and the first 公示 for applications of this recommending unit."""
        return self.process.by_unit.get(unit_id or "", self.process.first_round)

    @property
    def package_letters(self) -> Letters:
        """The two letters' issuers (``letters``, or the recommending unit for both)."""
        if self.letters is not None:
            return self.letters
        unit = self.recommending_unit
        spec = LetterSpec(issuer=unit.name, signature=unit.name)
        return Letters(recommendation=spec, audit_opinion=spec)

    def season_warnings(self) -> list[str]:
        """What is not an error yet but blocks a later step (``award season check`` prints these)."""
        warnings = []
        if self.national.contact_mobile is None:
            warnings.append("national.contact_mobile: missing; the national mail's subject needs a mobile number, "
                            "the export refuses to send without it")
        if self.national.contact_name is None and any(sep in self.recommending_unit.contact for sep in "、,，/ "):
            warnings.append("national.contact_name: missing; the national mail's subject names one contact "
                            f"(recommending_unit.contact {self.recommending_unit.contact!r} names several)")
        for key in ("postal_address", "postcode"):
            if getattr(self.national, key) is None:
                warnings.append(f"national.{key}: missing; the postal cover sheet cannot be printed")
        return warnings

    @property
    def year(self) -> int:
        return self.dates.provincial_deadline.year

    @property
    def label(self) -> str:
        """The award's name with its edition (第五届中国质量奖), as the letters and mails name the season."""
        return f"{self.award.edition}{self.award.name}"

    def category(self, category_id: str) -> Category:
        """Return a category's settings or raise KeyError naming it."""
        found = self.find_category(category_id)
        if found is None:
            raise KeyError(f"unknown category {category_id!r}")
        return found

    def find_category(self, category_id: str | None) -> Category | None:
        """A category's settings, or None for an id the season does not have (a stored or parsed string)."""
        return next((category for cid, category in self.categories.items() if cid == category_id), None)


def _format_errors(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key (typo?)"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            sub = re.match(r"^([A-Za-z_][\w.]*): (.*)$", msg, re.S)
            if kind == "value_error" and sub:  # a validator names the key below its own
                key = ".".join(p for p in (".".join(str(p) for p in err["loc"]), sub.group(1)) if p)
                msg = sub.group(2)
        lines.append(f"{path}: {key}: {msg}")
    return "\n".join(lines)


def parse_season(data: dict[str, Any], source: str | Path = "<season>") -> Season:
    """Validate an already-loaded mapping as a season."""
    try:
        return Season.model_validate(data)
    except ValidationError as exc:
        raise SeasonConfigError(_format_errors(Path(str(source)), exc)) from None


def load_season(path: str | Path | None = None) -> Season:
    """Load and validate a season file (default: $AWARD_SEASON_FILE or the shipped 2023 example)."""
    path = season_path(path)
    try:
        data = yaml_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SeasonConfigError(f"{path}: season file not found") from None
    except yaml.YAMLError as exc:
        raise SeasonConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise SeasonConfigError(f"{path}: the season file must be a mapping of keys")
    season = parse_season(data, path)
    _check_rules(season, path)
    return season


def _check_rules(season: Season, path: Path) -> None:
    """Unknown rule ids fail the load, naming the id (the rule registry lives in award.completeness.rules)."""
    try:
        from award.completeness.rules import RULES  # noqa: PLC0415 - the rule registry (the rules package's eight submodules, award.units, award.entrypoints) loads only when a season file is validated, not in the 40-odd modules that import config for its types
    except ImportError:
        return
    for cat_id, cat in season.categories.items():
        for rule_id in cat.rules:
            if rule_id not in RULES:
                raise SeasonConfigError(f"{path}: categories.{cat_id}.rules: unknown rule id {rule_id!r}")
    errors = season_choice_errors(season)
    if errors:
        raise SeasonConfigError("\n".join(f"{path}: {e}" for e in errors))


@lru_cache(maxsize=8)
def cached_season(path: str | None = None) -> Season:
    """Load a season once per process (DAG tasks call this)."""
    return load_season(path)
