//! The demo hospital: departments, doctors, 14 days of schedules, and citizens of every
//! insurance kind, generated from a seed. The same seed and the same first day give the
//! same hospital every time.
use crate::rng::SeededRng;
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};
use domain::Fen;
use domain::identity::{Gender, IdCardNo};
use domain::insurance::{Coverage, InsuranceKind, MutualAidGrant, Referral};
use domain::ports::FeeItem;
use domain::registration::{Department, Doctor, Schedule, SessionPeriod, Slot};

pub const DEFAULT_SEED: u64 = 20_261_125;
pub const SCHEDULE_DAYS: i64 = 14;

/// The hospital's own community health centres: 本部 and 社康 codes used by the
/// referral rules.
pub const OWN_CHC: &str = "SK440305001";
pub const OWN_CHC_NAME: &str = "南山区桃源社康中心";
pub const OTHER_CHC: &str = "SK440304009";
/// This hospital's 定点医疗机构 code: referrals must name it.
pub const HOSPITAL_CODE: &str = "H44030300001";

const DEPARTMENTS: &[(&str, &str, &str, &str, &str)] = &[
    ("0101", "内科", "内科", "门诊楼2层A区", "高血压、糖尿病、呼吸道及消化道常见病诊治"),
    ("0102", "外科", "外科", "门诊楼3层A区", "普外科常见病、体表肿物、外伤处理"),
    ("0103", "儿科", "妇儿", "门诊楼1层C区", "儿童常见病、多发病，儿童保健与预防接种咨询"),
    ("0104", "产科", "妇儿", "门诊楼4层B区", "孕期检查、产前诊断、高危妊娠管理"),
    ("0105", "发热门诊", "急诊", "独立发热门诊楼1层", "发热病人筛查与诊治，24小时开诊"),
    ("0106", "眼科", "五官", "门诊楼5层A区", "白内障、青光眼、屈光不正、眼底病"),
    ("0107", "妇科", "妇儿", "门诊楼4层A区", "妇科炎症、月经失调、妇科肿瘤筛查"),
    ("0108", "耳鼻咽喉科", "五官", "门诊楼5层B区", "鼻炎、咽喉炎、中耳炎、听力障碍"),
    ("0109", "皮肤科", "内科", "门诊楼6层A区", "湿疹、皮炎、痤疮、银屑病"),
    ("0110", "口腔科", "五官", "门诊楼6层B区", "牙体牙髓病、牙周病、口腔修复"),
    ("0111", "中医科", "中医", "门诊楼7层A区", "中医内科调理、针灸推拿"),
    ("0112", "骨科", "外科", "门诊楼3层B区", "骨折、关节疼痛、脊柱疾病、运动损伤"),
];

const SURNAMES: &[&str] = &["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"];
const GIVEN: &[&str] =
    &["建国", "丽华", "志强", "秀兰", "海涛", "晓燕", "国平", "慧敏", "文杰", "雪梅", "振华", "玉兰", "伟", "静", "磊", "芳", "敏", "洋", "婷", "军"];
const TITLES: &[(&str, i64, i64, u32)] = &[
    // title, registration fee, consultation fee (fen), patients per 30-minute slot
    ("主任医师", 0, 5000, 2),
    ("副主任医师", 0, 3800, 3),
    ("主治医师", 0, 2500, 4),
    ("住院医师", 0, 1500, 5),
];

pub struct DemoHospital {
    pub departments: Vec<Department>,
    pub doctors: Vec<Doctor>,
    pub schedules: Vec<Schedule>,
    pub citizens: Vec<Citizen>,
    pub wechat_users: Vec<WechatUser>,
}

/// A person known to the demo world (the real-name registry), with the insurance
/// standing the HIS and the insurance centre report for them.
#[derive(Clone, Debug)]
pub struct Citizen {
    pub name: String,
    pub id_card_no: String,
    pub mobile: String,
    pub coverage: Coverage,
    /// Whether the HIS already has a record (建档) for them.
    pub registered_in_his: bool,
    pub guardian_id: Option<String>,
    pub note: &'static str,
}

#[derive(Clone, Debug)]
pub struct WechatUser {
    pub openid: String,
    pub unionid: String,
    pub nickname: String,
    /// Whose phone this is (an index into `citizens`), for the demo story.
    pub owner: Option<usize>,
}

fn id_number(region: &str, birth: NaiveDate, seq: u32, male: bool) -> String {
    let order = seq * 2 + if male { 1 } else { 0 };
    let first = format!("{region}{}{:03}", birth.format("%Y%m%d"), order % 1000);
    let check = IdCardNo::check_char(&first).expect("17 digits");
    format!("{first}{check}")
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("valid demo date")
}

fn coverage(kind: InsuranceKind, psn: &str, chc: Option<&str>, referral: Option<Referral>, balance: i64, grants: Vec<MutualAidGrant>) -> Coverage {
    Coverage {
        kind,
        psn_no: (kind != InsuranceKind::SelfPay).then(|| psn.to_owned()),
        bound_chc: chc.map(str::to_owned),
        referral,
        personal_account_balance: Fen(balance),
        mutual_aid_grants: grants,
    }
}

/// The citizens of the demo world. Every insurance situation of INS-2/INS-3 has one.
pub fn citizens(today: NaiveDate) -> Vec<Citizen> {
    let valid = today + Duration::days(30);
    let expired = today - Duration::days(3);
    let referral = |no: &str, dept: Option<&str>, until: NaiveDate| Referral {
        referral_no: no.into(),
        from_chc: OWN_CHC.into(),
        to_org: HOSPITAL_CODE.into(),
        dept_id: dept.map(str::to_owned),
        valid_until: until,
    };
    let zhang_id = id_number("440305", d(1985, 3, 12), 101, true);
    let li_id = id_number("440305", d(1990, 7, 8), 102, false);
    let wang_id = id_number("440304", d(1988, 11, 23), 103, false);
    let c = |name: &str, id: String, mobile: &str, coverage: Coverage, his: bool, guardian: Option<String>, note: &'static str| Citizen {
        name: name.into(),
        id_card_no: id,
        mobile: mobile.into(),
        coverage,
        registered_in_his: his,
        guardian_id: guardian,
        note,
    };
    vec![
        c(
            "张伟",
            zhang_id.clone(),
            "13800138001",
            coverage(InsuranceKind::Tier1, "44030000000101", None, None, 286_050, vec![]),
            true,
            None,
            "一档，个人账户有余额",
        ),
        c(
            "李娜",
            li_id.clone(),
            "13800138002",
            coverage(InsuranceKind::Tier2, "44030000000102", Some(OWN_CHC), Some(referral("ZZ202611250001", None, valid)), 0, vec![]),
            true,
            None,
            "二档，绑定本院社康，转诊有效",
        ),
        c(
            "王芳",
            wang_id.clone(),
            "13800138003",
            coverage(InsuranceKind::Tier2, "44030000000103", Some(OWN_CHC), None, 0, vec![]),
            true,
            None,
            "二档，绑定本院社康，无转诊",
        ),
        c(
            "刘洋",
            id_number("440306", d(1979, 1, 30), 104, true),
            "13800138004",
            coverage(InsuranceKind::Tier3, "44030000000104", Some(OWN_CHC), Some(referral("ZZ202611250002", Some("0101"), valid)), 0, vec![]),
            true,
            None,
            "三档，转诊至内科有效",
        ),
        c(
            "陈静",
            id_number("440305", d(1992, 5, 17), 105, false),
            "13800138005",
            coverage(
                InsuranceKind::Tier3,
                "44030000000105",
                Some(OTHER_CHC),
                None,
                0,
                vec![MutualAidGrant { grantor_psn_no: "44030000000101".into(), grantor_name_masked: "张*".into(), valid_until: valid }],
            ),
            true,
            None,
            "三档，未转诊，有家庭共济授权（张伟）",
        ),
        c(
            "杨小宝",
            id_number("440305", d(2020, 6, 1), 106, true),
            "13800138002",
            coverage(InsuranceKind::Children, "44030000000106", Some(OWN_CHC), None, 0, vec![]),
            false,
            Some(li_id),
            "少儿医保，监护人李娜，尚未建档",
        ),
        c(
            "赵小雨",
            id_number("440304", d(2018, 9, 9), 107, false),
            "13800138003",
            coverage(InsuranceKind::Children, "44030000000107", Some(OWN_CHC), None, 0, vec![]),
            true,
            Some(wang_id.clone()),
            "少儿医保，监护人王芳",
        ),
        c("黄强", id_number("440307", d(1975, 12, 2), 108, true), "13800138008", Coverage::self_pay(), true, None, "自费"),
        c(
            "周敏",
            id_number("440305", d(1995, 2, 14), 109, false),
            "13800138009",
            coverage(InsuranceKind::Tier2, "44030000000109", Some(OWN_CHC), Some(referral("ZZ202611010003", None, expired)), 0, vec![]),
            true,
            None,
            "二档，转诊已过期",
        ),
        c(
            "吴秀英",
            id_number("440305", d(1952, 8, 20), 110, false),
            "13800138010",
            coverage(InsuranceKind::Tier1, "44030000000110", None, None, 1_520_000, vec![]),
            true,
            Some(zhang_id),
            "一档，张伟的母亲，住院中",
        ),
        c(
            "赵小川",
            id_number("440304", d(2021, 3, 15), 111, true),
            "13800138003",
            coverage(InsuranceKind::Children, "44030000000111", Some(OWN_CHC), None, 0, vec![]),
            false,
            Some(wang_id),
            "少儿医保，监护人王芳，尚未建档",
        ),
    ]
}

pub fn wechat_users() -> Vec<WechatUser> {
    let u = |openid: &str, nick: &str, owner: Option<usize>| WechatUser { openid: openid.into(), unionid: format!("u-{openid}"), nickname: nick.into(), owner };
    vec![
        u("oDemo_zhangwei_0001", "张伟", Some(0)),
        u("oDemo_lina_0002", "李娜", Some(1)),
        u("oDemo_wangfang_0003", "王芳", Some(2)),
        u("oDemo_newcomer_0004", "微信新用户", None),
    ]
}

/// The allergy history the demo HIS keeps for some of its people.
pub fn allergies_of(name: &str) -> Option<&'static str> {
    match name {
        "张伟" => Some("青霉素过敏"),
        "吴秀英" => Some("磺胺类药物过敏；海鲜过敏"),
        _ => None,
    }
}

pub fn gender_of(id: &str) -> Gender {
    if (id.as_bytes()[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female }
}

impl DemoHospital {
    pub fn generate(seed: u64, first_day: NaiveDate) -> Self {
        let mut rng = SeededRng::new(seed);
        let departments: Vec<Department> = DEPARTMENTS
            .iter()
            .map(|(id, name, cat, loc, intro)| Department {
                dept_id: (*id).into(),
                name: (*name).into(),
                category: (*cat).into(),
                location: (*loc).into(),
                intro: (*intro).into(),
            })
            .collect();
        let mut doctors = Vec::new();
        let mut used_names = std::collections::HashSet::new();
        for (di, dept) in departments.iter().enumerate() {
            for k in 0..3 {
                let title = &TITLES[(k + di) % TITLES.len()];
                let name = loop {
                    let n = format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN));
                    if used_names.insert(n.clone()) {
                        break n;
                    }
                };
                doctors.push(Doctor {
                    doctor_code: format!("D{}{:02}", dept.dept_id, k + 1),
                    dept_id: dept.dept_id.clone(),
                    name,
                    title: title.0.into(),
                    specialty: dept.intro.split('、').next().unwrap_or("").to_owned(),
                    reg_fee: Fen(title.1),
                    treat_fee: Fen(title.2),
                });
            }
        }
        let mut schedules = Vec::new();
        for day in 0..SCHEDULE_DAYS {
            let date = first_day + Duration::days(day);
            let weekend = matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
            for doc in &doctors {
                let fever = doc.dept_id == "0105";
                let cap = TITLES.iter().find(|t| t.0 == doc.title).map(|t| t.3).unwrap_or(4);
                let mut periods = vec![];
                if fever {
                    periods = vec![SessionPeriod::Morning, SessionPeriod::Afternoon, SessionPeriod::Evening];
                } else if !weekend || rng.chance(20) {
                    if rng.chance(70) {
                        periods.push(SessionPeriod::Morning);
                    }
                    if rng.chance(50) {
                        periods.push(SessionPeriod::Afternoon);
                    }
                }
                for period in periods {
                    let (start, n) = match period {
                        SessionPeriod::Morning => (NaiveTime::from_hms_opt(8, 0, 0).expect("time"), 8),
                        SessionPeriod::Afternoon => (NaiveTime::from_hms_opt(14, 0, 0).expect("time"), 7),
                        SessionPeriod::Evening => (NaiveTime::from_hms_opt(18, 0, 0).expect("time"), 6),
                    };
                    let flag = match period {
                        SessionPeriod::Morning => 1,
                        SessionPeriod::Afternoon => 2,
                        SessionPeriod::Evening => 3,
                    };
                    let schedule_id = format!("S{}{}{}", date.format("%Y%m%d"), doc.doctor_code, flag);
                    let slots = (0..n)
                        .map(|i| {
                            let s = start + Duration::minutes(30 * i);
                            Slot { slot_id: format!("{schedule_id}-{:02}", i + 1), start: s, end: s + Duration::minutes(30), capacity: cap, available: cap }
                        })
                        .collect();
                    schedules.push(Schedule {
                        schedule_id,
                        doctor_code: doc.doctor_code.clone(),
                        dept_id: doc.dept_id.clone(),
                        date,
                        period,
                        suspended: day > 0 && rng.chance(2),
                        slots,
                    });
                }
            }
        }
        Self { departments, doctors, schedules, citizens: citizens(first_day), wechat_users: wechat_users() }
    }
}

/// A few fee lines for demo bills (outpatient) and daily lists (inpatient).
/// A fee line of `qty` at `price` fen each.
fn fee(code: &str, name: &str, qty: u32, price: i64, insurable: bool) -> FeeItem {
    FeeItem { item_code: code.into(), name: name.into(), qty, unit_price: Fen(price), amount: Fen(price * i64::from(qty)), insurable }
}

pub fn fee_catalogue() -> Vec<FeeItem> {
    let f = |code: &str, name: &str, price: i64, insurable: bool| fee(code, name, 1, price, insurable);
    vec![
        f("250101001", "血常规（五分类）", 2500, true),
        f("250301001", "C反应蛋白测定", 3000, true),
        f("210102015", "胸部正侧位X线摄影", 9000, true),
        f("XY0001", "阿莫西林胶囊 0.25g×24粒", 1860, true),
        f("XY0002", "布洛芬混悬液 100ml", 2350, true),
        f("ZF0001", "医用护具（自费）", 4500, false),
        f("310100001", "床位费（三人间）", 6000, true),
        f("120100001", "一级护理", 2600, true),
        f("250102001", "尿常规", 1500, true),
    ]
}

/// A day of an inpatient stay as the HIS's day list shows it (`day` 0 is the admission day):
/// bed and nursing every day, tests on the first days, medicines most days, a self-pay item
/// now and then — each with its specification, catalogue class (甲/乙/丙) and self-pay rate.
pub fn inpatient_day(day: i64) -> Vec<(FeeItem, &'static str, &'static str, f64)> {
    let f = fee;
    let mut out = vec![(f("310100001", "床位费（三人间）", 1, 6000, true), "间/日", "甲", 0.0), (f("120100001", "一级护理", 1, 2600, true), "日", "甲", 0.0)];
    if day < 2 {
        out.push((f("250101001", "血常规（五分类）", 1, 2500, true), "次", "甲", 0.0));
        out.push((f("250301001", "C反应蛋白测定", 1, 3000, true), "次", "乙", 0.1));
    }
    if day % 3 != 2 {
        out.push((f("XY1001", "头孢呋辛钠注射液", 2, 1580, true), "0.75g/支", "乙", 0.1));
        out.push((f("XY1002", "氯化钠注射液", 2, 350, true), "100ml/袋", "甲", 0.0));
    }
    if day % 4 == 1 {
        out.push((f("ZF1001", "医用护理垫（自费）", 3, 800, false), "片", "丙", 1.0));
    }
    out
}

/// The number printed on a patient's plastic visiting card in the simulated hospital [I].
pub fn physical_card_no(his_patient_id: &str) -> String {
    format!("8{}", his_patient_id.trim_start_matches(|c: char| !c.is_ascii_digit()))
}

/// What a stay is for: its procedures add to the ward's daily charges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StayProfile {
    /// 心血管内科: examinations on the first day, coronary angiography on the second.
    Cardiology,
    /// 骨科: CT on the first day, an operation with an implant on the second.
    Orthopaedics,
}

/// One day (0 = admission day) of a stay of `profile`: the ward's daily lines
/// ([`inpatient_day`]) and the profile's procedures that day.
pub fn stay_day(profile: StayProfile, day: i64) -> Vec<(FeeItem, &'static str, &'static str, f64)> {
    let f = fee;
    let mut out = inpatient_day(day);
    match (profile, day) {
        (StayProfile::Cardiology, 0) => {
            out.push((f("220600002", "经胸超声心动图", 1, 28_000, true), "次", "甲", 0.0));
            out.push((f("310701009", "动态心电图", 1, 18_000, true), "次", "甲", 0.0));
        }
        (StayProfile::Cardiology, 1) => out.push((f("320200001", "冠状动脉造影术", 1, 320_000, true), "次", "乙", 0.1)),
        (StayProfile::Orthopaedics, 0) => out.push((f("210300001", "下肢CT平扫", 1, 42_000, true), "次", "甲", 0.0)),
        (StayProfile::Orthopaedics, 1) => {
            out.push((f("331505004", "股骨干骨折切开复位内固定术", 1, 286_000, true), "次", "乙", 0.1));
            out.push((f("330100003", "全身麻醉", 1, 86_000, true), "次", "甲", 0.0));
            out.push((f("HC2001", "锁定加压接骨板", 1, 480_000, true), "块", "乙", 0.3));
        }
        _ => {}
    }
    out
}

/// `n` further lines for a day of a dense stay: infusions, injections and consumables in
/// turn, prices varying with the day so totals are not all alike.
pub fn extra_day_lines(day: i64, n: usize) -> Vec<(FeeItem, &'static str, &'static str, f64)> {
    const KINDS: [(&str, &str, &str, f64); 4] = [
        ("复方氨基酸注射液", "250ml/瓶", "乙", 0.1),
        ("葡萄糖注射液", "500ml/袋", "甲", 0.0),
        ("一次性输液器", "套", "丙", 1.0),
        ("注射用泮托拉唑钠", "40mg/支", "乙", 0.1),
    ];
    (0..n)
        .map(|i| {
            let (name, spec, class, rate) = KINDS[i % KINDS.len()];
            let price = 300 + ((day as usize * 7 + i * 13) % 50) as i64 * 20;
            (fee(&format!("EX{:04}", i), &format!("{name}（{}）", i + 1), 1 + (i % 3) as u32, price, class != "丙"), spec, class, rate)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_hospital_and_enough_of_everything() {
        let day = d(2026, 11, 25);
        let a = DemoHospital::generate(DEFAULT_SEED, day);
        let b = DemoHospital::generate(DEFAULT_SEED, day);
        assert_eq!(a.doctors, b.doctors);
        assert_eq!(a.schedules, b.schedules);
        assert!(a.departments.len() >= 10);
        for need in ["儿科", "产科", "发热门诊", "内科", "外科", "眼科"] {
            assert!(a.departments.iter().any(|d| d.name == need), "{need}");
        }
        assert!(a.doctors.len() >= 30);
        let days: std::collections::BTreeSet<_> = a.schedules.iter().map(|s| s.date).collect();
        assert_eq!(days.len() as i64, SCHEDULE_DAYS);
        for s in &a.schedules {
            for slot in &s.slots {
                assert!(slot.end - slot.start <= Duration::minutes(30));
                assert!(slot.capacity > 0);
            }
        }
        let c = DemoHospital::generate(DEFAULT_SEED + 1, day);
        assert_ne!(a.doctors, c.doctors, "another seed, another hospital");
    }

    #[test]
    fn citizens_have_valid_ids_and_cover_every_insurance_case() {
        let day = d(2026, 11, 25);
        let cs = citizens(day);
        for c in &cs {
            IdCardNo::parse(&c.id_card_no, day).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        }
        use InsuranceKind::*;
        for k in [Tier1, Tier2, Tier3, Children, SelfPay] {
            assert!(cs.iter().any(|c| c.coverage.kind == k), "{k:?}");
        }
        assert!(cs.iter().any(|c| matches!(c.coverage.kind, Tier2 | Tier3) && c.coverage.referral.as_ref().is_some_and(|r| r.valid_until >= day)));
        assert!(cs.iter().any(|c| matches!(c.coverage.kind, Tier2 | Tier3) && c.coverage.referral.is_none() && c.coverage.mutual_aid_grants.is_empty()));
        assert!(cs.iter().any(|c| !c.coverage.mutual_aid_grants.is_empty()));
        assert!(cs.iter().any(|c| c.coverage.kind == Children && c.guardian_id.is_some()));
    }
}
