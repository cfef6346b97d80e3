"""Place names and institution names for the synthetic province (fictional institutions, real-looking names)."""

from __future__ import annotations

#: Counties/districts of each city (GB/T 2260 names; the synthetic codes are <city prefix><2 digits>).
COUNTIES: dict[str, list[str]] = {
    "450100": ["兴宁区", "青秀区", "江南区", "西乡塘区", "良庆区", "邕宁区", "武鸣区", "隆安县", "马山县", "上林县",
               "宾阳县", "横州市"],
    "450200": ["城中区", "鱼峰区", "柳南区", "柳北区", "柳江区", "柳城县", "鹿寨县", "融安县", "融水苗族自治县",
               "三江侗族自治县"],
    "450300": ["秀峰区", "叠彩区", "象山区", "七星区", "雁山区", "临桂区", "阳朔县", "灵川县", "全州县", "兴安县",
               "永福县", "灌阳县", "龙胜各族自治县", "资源县", "平乐县", "荔浦市", "恭城瑶族自治县"],
    "450400": ["万秀区", "长洲区", "龙圩区", "苍梧县", "藤县", "蒙山县", "岑溪市"],
    "450500": ["海城区", "银海区", "铁山港区", "合浦县"],
    "450600": ["港口区", "防城区", "上思县", "东兴市"],
    "450700": ["钦南区", "钦北区", "灵山县", "浦北县"],
    "450800": ["港北区", "港南区", "覃塘区", "平南县", "桂平市"],
    "450900": ["玉州区", "福绵区", "容县", "陆川县", "博白县", "兴业县", "北流市"],
    "451000": ["右江区", "田阳区", "田东县", "德保县", "那坡县", "凌云县", "乐业县", "田林县", "西林县",
               "隆林各族自治县", "靖西市", "平果市"],
    "451100": ["八步区", "平桂区", "昭平县", "钟山县", "富川瑶族自治县"],
    "451200": ["金城江区", "宜州区", "南丹县", "天峨县", "凤山县", "东兰县", "罗城仫佬族自治县", "环江毛南族自治县",
               "巴马瑶族自治县", "都安瑶族自治县", "大化瑶族自治县"],
    "451300": ["兴宾区", "忻城县", "象州县", "武宣县", "金秀瑶族自治县", "合山市"],
    "451400": ["江州区", "扶绥县", "宁明县", "龙州县", "大新县", "天等县", "凭祥市"],
}

REGION_PLACE = "广西壮族自治区"

_REGION_ORGANS = ["人民政府办公厅", "发展和改革委员会", "教育厅", "科学技术厅", "工业和信息化厅", "民族宗教事务委员会",
                  "公安厅", "民政厅", "司法厅", "财政厅", "人力资源和社会保障厅", "自然资源厅", "生态环境厅",
                  "住房和城乡建设厅", "交通运输厅", "水利厅", "农业农村厅", "商务厅", "文化和旅游厅", "卫生健康委员会",
                  "退役军人事务厅", "应急管理厅", "审计厅", "国有资产监督管理委员会", "市场监督管理局", "广播电视局",
                  "体育局", "统计局", "林业局", "机关事务管理局", "医疗保障局", "大数据发展局", "粮食和物资储备局",
                  "药品监督管理局", "信访局", "地方金融管理局", "乡村振兴局", "海洋局", "中医药管理局", "人民防空办公室"]
_LOCAL_ORGANS = ["人民政府办公室", "发展和改革局", "教育局", "科学技术局", "工业和信息化局", "公安局", "民政局", "司法局",
                 "财政局", "人力资源和社会保障局", "自然资源局", "住房和城乡建设局", "交通运输局", "水利局", "农业农村局",
                 "商务局", "文化广电体育和旅游局", "卫生健康局", "退役军人事务局", "应急管理局", "审计局",
                 "市场监督管理局", "统计局", "林业局", "机关事务管理局", "医疗保障局", "城市管理综合行政执法局",
                 "信访局", "行政审批局", "生态环境局"]
_TOWN_SYLLABLES = list("大小石那平新长安江坡龙凤林塘桥山沙岭田头水河南北东西六五三")
_TOWN_SUFFIXES = ["镇人民政府", "乡人民政府", "街道办事处"]

_REGION_UNIVERSITIES = ["广西大学", "广西师范大学", "广西民族大学", "广西医科大学", "广西中医药大学", "广西科技大学",
                        "桂林电子科技大学", "桂林理工大学", "南宁师范大学", "广西财经学院", "广西艺术学院",
                        "广西职业技术学院", "广西机电职业技术学院", "广西交通职业技术学院", "广西水利电力职业技术学院",
                        "广西农业职业技术大学", "广西经济职业学院", "广西体育高等专科学校", "广西警察学院",
                        "广西建设职业技术学院"]
_LOCAL_UNIVERSITIES = ["职业技术学院", "学院", "幼儿师范高等专科学校", "卫生职业技术学院", "工贸职业技术学院"]
_HOSPITALS = ["人民医院", "中医医院", "妇幼保健院", "第二人民医院", "第三人民医院", "第四人民医院", "人民医院分院",
              "中西医结合医院", "疾病预防控制中心门诊部", "精神病医院", "传染病医院", "红十字会医院"]
_VENUES = ["体育中心", "图书馆", "博物馆", "文化馆", "科技馆", "青少年活动中心", "档案馆", "美术馆", "会展中心",
           "群众艺术馆", "游泳馆", "大剧院"]
_OTHERS = ["疾病预防控制中心", "机关事务服务中心", "公共资源交易中心", "不动产登记中心", "社会福利院", "救助管理站",
           "水文中心", "农业技术推广中心", "林业技术推广站", "政务服务中心", "住房公积金管理中心", "气象服务中心",
           "园林绿化管理所", "环境监测站", "产品质量检验所", "广播电视台"]
_ASSOCIATIONS = ["总工会", "妇女联合会", "共青团委员会", "科学技术协会", "文学艺术界联合会", "残疾人联合会", "红十字会",
                 "工商业联合会", "归国华侨联合会", "社会科学界联合会", "作家协会", "计划生育协会"]

_DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 23 → 二十三, 105 → 一百零五 (school numbers)."""
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        tail = "" if rest == 0 else ("零" + _DIGITS[rest] if rest < 10 else chinese_number(rest)
                                     if rest >= 20 else "一" + chinese_number(rest))
        return _DIGITS[n // 100] + "百" + tail
    return str(n)


def _town(k: int) -> str:
    n = len(_TOWN_SYLLABLES)
    first, second = _TOWN_SYLLABLES[k % n], _TOWN_SYLLABLES[(k // n + k) % n]
    return first + second + _TOWN_SUFFIXES[(k // (n * n)) % len(_TOWN_SUFFIXES)]


def institution_name(place: str, subkind: str, k: int, region: bool) -> str:
    """The k-th (0-based) institution of `subkind` in `place`; distinct k give distinct names in one place."""
    if subkind == "机关":
        organs = _REGION_ORGANS if region else _LOCAL_ORGANS
        if k < len(organs):
            return place + organs[k]
        k -= len(organs)
        if region:
            return f"{place}{organs[k % len(organs)]}直属{chinese_number(k // len(organs) + 1)}处"
        return place + _town(k) if k < 3 * len(_TOWN_SYLLABLES) ** 2 else f"{place}第{k}办事处"
    if subkind == "中小学校":
        number = chinese_number(k // 2 + 1)
        return f"{place}第{number}{'中学' if k % 2 == 0 else '小学'}"
    if subkind == "高等学校":
        if region:
            if k < len(_REGION_UNIVERSITIES):
                return _REGION_UNIVERSITIES[k]
            return f"广西第{chinese_number(k - len(_REGION_UNIVERSITIES) + 1)}职业技术学院"
        names = _LOCAL_UNIVERSITIES
        return place + (names[k] if k < len(names) else f"第{chinese_number(k - len(names) + 2)}职业技术学院")
    table = {"医院": (_HOSPITALS, "第{}医院"), "场馆": (_VENUES, "第{}体育馆"), "其他": (_OTHERS, "第{}服务中心"),
             "团体": (_ASSOCIATIONS, "第{}协会")}[subkind]
    names, numbered = table
    if k < len(names):
        return place + names[k]
    return place + numbered.format(chinese_number(k - len(names) + 1))
