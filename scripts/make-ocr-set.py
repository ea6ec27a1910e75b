#!/usr/bin/env python3
"""Draws a labelled set of images for testing search by the words in images (OCR).

About 30 pictures with words: screenshots (a window with a title bar, lines of text and a
button), receipts (narrow paper, monospace items and prices, a TOTAL line), signs (a coloured
board with big letters on a photo-like background), posters, slides and documents, in English and
Simplified Chinese. Some are blurred, rotated, in small print or low contrast, some JPEG-compressed.
And 20 look-alikes with no glyphs at all: the same layouts with grey bars and shapes where the
words would be, and a few photo-like pictures (gradients, noise, circles).

Each picture with words has one or two queries: a word, number or short phrase drawn in it and
in no other image of the set (no query is a substring of another image's text, letter case
aside). Every picture also carries filler words many share ("the", "total", "meeting", "date",
日期, 时间), so a search has to find the distinctive part. File names are neutral (ocr-007.png,
plain-003.jpg): a hit shows the words were read from the pixels, not from the name. Tesseract 5.3
finds all the queries but three hard cases (a Chinese sign blurred, one turned, a screenshot
turned 8 degrees); the comments at those images say why.

Used by the OCR tests (tests/it/ocr.rs) and the OCR bench:
    make-ocr-set.py OUT_DIR
writes the images and OUT_DIR/labels.json, a list of
    {"file": "ocr-007.png", "kind": "receipt", "lang": "en" | "zh" | "none",
     "variants": ["blur", "rotated", "small", "low-contrast", "jpeg"], "queries": ["invoice 4711"],
     "text": every line drawn, joined by newlines}
(look-alikes have "lang": "none", no queries and an empty text). The drawing is seeded, so the
same Pillow version draws the same files. Needs only Pillow and the fonts DejaVu (Debian
fonts-dejavu-core) and WenQuanYi Zen Hei (fonts-wqy-zenhei).
"""
import glob
import json
import os
import random
import re
import sys
from functools import lru_cache

try:
    from PIL import Image, ImageDraw, ImageFilter, ImageFont
except ImportError:
    sys.exit("make-ocr-set.py needs Pillow (pip install pillow)")

FONTS = {
    "sans": ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core"),
    "bold": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"),
    "mono": ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core"),
    "serif": ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "fonts-dejavu-core"),
    "zh": ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "fonts-wqy-zenhei"),
}
SEED = 35
# Words many images share, so that only an image's queries single it out.
FILLER_EN = ("the", "total", "meeting", "date", "time", "page", "please", "open")
FILLER_ZH = ("日期", "时间", "会议", "总计", "请")
JPEG_QUALITY = 70

# --- the pictures with words ------------------------------------------------------------------

WORDS = [
    # Screenshots: a window on a desktop.
    dict(kind="screenshot", lang="en", variants=[], queries=["wifi password", "sunflower42"],
         title="Network Settings", button="Save",
         lines=["Connected to the office guest network", "WiFi password: sunflower42",
                "Date of last change: 12 March 2024", "Open the meeting room display to share it"]),
    dict(kind="screenshot", lang="en", variants=["small"], queries=["okonkwo"],
         title="Calendar - Tuesday 14 May", button="New event",
         lines=["08:30  Coffee with the design group", "09:00  Stand-up meeting with the platform team",
                "11:30  Lunch with Dr. Okonkwo at the canteen", "13:00  Review the budget for the next quarter",
                "15:00  Interview for the support role", "16:30  Call the landlord about the heating",
                "17:15  Gym, if there is time", "Total: 7 events on this date"]),
    dict(kind="screenshot", lang="en", variants=["low-contrast"], queries=["archive disk", "3418 files"],
         title="Backup", button="Close",
         lines=["Backup finished at the scheduled time", "3418 files copied to the archive disk",
                "Total size: 52.7 GB", "Next run: the date is set at the next meeting"]),
    dict(kind="screenshot", lang="zh", variants=[], queries=["会议室"],
         title="会议室预订", button="确定",
         lines=["第三会议室已为您预订", "日期：2024年5月12日", "时间：14:00 - 15:30", "请准时参加会议"]),
    dict(kind="screenshot", lang="en", variants=["jpeg"], queries=["tracking number", "88213"],
         title="Order Tracking", button="Track",
         lines=["Your parcel is on the way", "Tracking number: KX 88213", "Estimated delivery date: Friday",
                "Total weight: 2.4 kg", "Please keep the receipt"]),
    # Turned 8 degrees, past what Tesseract's deskewing copes with (about 6): a hard case.
    dict(kind="screenshot", lang="en", variants=["rotated"], queries=["pizza vouchers"], angle=8,
         title="Messages - Priya", button="Send",
         lines=["Are we still on for the meeting at noon?", "Yes! Bring the pizza vouchers please",
                "What time does the train leave?", "12:40 from the main station"]),
    # Receipts: ("h", header), ("c", centred line), ("r", item, price), ("t", total, sum), ("-",) a rule.
    dict(kind="receipt", lang="en", variants=[], queries=["invoice 4711", "corner cafe"],
         rows=[("h", "CORNER CAFE"), ("c", "12 Mill Lane"), ("c", "INVOICE 4711"),
               ("c", "DATE 2024-06-03 TIME 08:42"), ("-",), ("r", "Flat white", "3.50"),
               ("r", "Croissant", "2.80"), ("r", "Orange juice", "3.20"), ("r", "Porridge", "4.90"), ("-",),
               ("t", "TOTAL", "14.40"), ("r", "Card", "14.40"), ("-",), ("c", "THANK YOU - PLEASE COME AGAIN")]),
    dict(kind="receipt", lang="en", variants=["blur"], queries=["ibuprofen"],
         rows=[("h", "GREEN LEAF PHARMACY"), ("c", "Open 8am - 8pm"), ("c", "DATE 2024-04-19 TIME 17:05"), ("-",),
               ("r", "Ibuprofen 400mg", "6.95"), ("r", "Plasters", "3.20"), ("r", "Hand cream", "5.45"),
               ("r", "Vitamin C", "7.10"), ("-",), ("t", "TOTAL", "22.70"), ("c", "Please keep the receipt")]),
    dict(kind="receipt", lang="en", variants=["rotated"], queries=["claw hammer"],
         rows=[("h", "HILLSIDE HARDWARE"), ("c", "DATE 2024-02-27 TIME 10:18"), ("-",),
               ("r", "Wood screws x100", "3.49"), ("r", "Claw hammer", "14.99"), ("r", "Sandpaper", "2.75"),
               ("r", "Paint brush", "4.60"), ("-",), ("t", "TOTAL", "25.83"), ("c", "Returns within 30 days, please")]),
    # Solid rules: between dashed ones Tesseract drops the Chinese items altogether.
    dict(kind="receipt", lang="zh", variants=[], queries=["发票", "红烧牛肉面"], rule="solid",
         rows=[("h", "餐饮发票"), ("c", "No. 20240518"), ("c", "日期 2024-05-18 时间 12:31"), ("-",),
               ("r", "米饭", "2.00"), ("r", "红烧牛肉面", "38.00"), ("r", "青菜", "16.00"), ("r", "酸梅汤", "8.00"),
               ("-",), ("t", "总计", "64.00"), ("c", "谢谢光临 请保留小票")]),
    dict(kind="receipt", lang="en", variants=["small", "jpeg"], queries=["diesel"],
         rows=[("h", "SUNRISE FUEL"), ("c", "Pump 4  DATE 2024-01-09"), ("-",), ("r", "Diesel 42.30 L", "71.48"),
               ("r", "Car wash", "6.00"), ("r", "Coffee", "2.10"), ("-",), ("t", "TOTAL", "79.58"),
               ("c", "TIME 07:55  Please drive safely")]),
    dict(kind="receipt", lang="en", variants=["low-contrast"], queries=["atlas of birds"],
         rows=[("h", "MAPLE BOOKS"), ("c", "DATE 2023-11-30 TIME 15:40"), ("-",), ("r", "Atlas of Birds", "24.00"),
               ("r", "Notebook", "3.99"), ("r", "Bookmark", "1.50"), ("-",), ("t", "TOTAL", "29.49"),
               ("c", "Open every day - please visit again")]),
    # Signs: a board on a photo-like background (always JPEG, as photos are). Tesseract reads
    # Chinese characters worst when they are big (over ~60 px once clipfind has scaled the page)
    # or on a busy background: 北京南站 is kept small, while 出口 (blurred) and 禁止吸烟 (turned)
    # are the set's hard cases, which Tesseract 5.3 misses.
    dict(kind="sign", lang="en", variants=["jpeg"], queries=["gate B17", "departures"], colour=(22, 70, 160),
         title="GATE B17", subs=["Departures - please check the time"]),
    dict(kind="sign", lang="zh", variants=["jpeg"], queries=["北京南站"], colour=(18, 52, 120), size=40,
         title="北京南站", subs=["Beijing South Railway Station", "请留意发车时间"]),
    dict(kind="sign", lang="zh", variants=["jpeg", "blur"], queries=["出口"], colour=(0, 122, 61), size=56,
         arrow=True, title="出口", subs=["EXIT", "请保持通道畅通"]),
    dict(kind="sign", lang="zh", variants=["jpeg", "rotated"], queries=["禁止吸烟"], colour=(248, 248, 244),
         ink=(20, 20, 20), size=52, title="禁止吸烟", subs=["No Smoking", "请勿在会议区域吸烟"]),
    dict(kind="sign", lang="en", variants=["jpeg", "rotated"], queries=["harbour street"], colour=(248, 248, 244),
         ink=(20, 20, 20), title="Harbour Street", subs=["to the old town and the ferry", "car park open all day"]),
    dict(kind="sign", lang="en", variants=["jpeg", "blur"], queries=["platform 9", "glasgow"], colour=(24, 24, 28),
         ink=(255, 220, 120), title="PLATFORM 9", subs=["The express to Glasgow", "departure time 14:05"]),
    # Posters.
    dict(kind="poster", lang="en", variants=[], queries=["jazz night", "blue lantern"],
         headline="JAZZ NIGHT", footer="Tickets at the door",
         subs=["Friday 21 June, 8 pm", "at the Blue Lantern", "Open to all - please book a table"]),
    dict(kind="poster", lang="en", variants=["jpeg"], queries=["lost cat", "whiskers"], headline="LOST CAT",
         footer="Reward offered",
         subs=["Mr. Whiskers, grey tabby", "Last seen on the date 4 May", "near the park gates",
               "Please call 0161 555 0192"]),
    dict(kind="poster", lang="zh", variants=[], queries=["营业时间"], headline="营业时间", size=64, footer="欢迎光临",
         subs=["周一至周五 09:00 - 21:00", "周六、周日 10:00 - 18:00", "节假日请提前预约"]),
    dict(kind="poster", lang="en", variants=["blur"], queries=["summer sale"], headline="SUMMER SALE",
         footer="While stocks last",
         subs=["40% off the whole store", "Open late until 10 pm", "Total savings at the till"]),
    # Slides.
    dict(kind="slide", lang="en", variants=[], queries=["quarterly revenue", "14 october"], footer="Page 3",
         title="Quarterly Revenue Review",
         bullets=["Total revenue up 12% on the last quarter", "Targets met in three of four regions",
                  "Costs flat since the spring meeting", "Next review date: 14 October"]),
    dict(kind="slide", lang="en", variants=["jpeg"], queries=["nightingale"], footer="Page 7", dark=True,
         title="Project Nightingale",
         bullets=["Kick-off meeting on 2 September", "The pilot starts in two hospitals",
                  "Budget approved by the board", "Open questions: staffing and data"]),
    dict(kind="slide", lang="zh", variants=[], queries=["年度总结"], footer="第 2 页", title="年度总结",
         bullets=["总计完成项目 42 个", "会议时间：每周一上午", "新客户增长 18%", "请各部门在日期前提交报告"]),
    dict(kind="slide", lang="en", variants=["blur"], queries=["kubernetes"], footer="Page 12",
         title="Kubernetes Migration Plan",
         bullets=["Move the billing service first", "Total downtime under one hour",
                  "Meeting with the ops team every Monday", "Cut-over date: 1 December"]),
    dict(kind="slide", lang="en", variants=["rotated"], queries=["onboarding"], footer="Page 2",
         title="Onboarding Checklist",
         bullets=["Laptop and badge on the first day", "Meet the team at the Monday meeting",
                  "Read the security handbook", "Set up payroll before the date shown"]),
    # Documents: paragraphs, wrapped to the page.
    dict(kind="document", lang="en", variants=["small"], queries=["abernathy"], face="serif",
         footer="page 1 of 1", title=None,
         paragraphs=["14 Orchard Road, Leeds", "Dear Mrs. Abernathy,",
                     "Thank you for your letter about the meeting of the residents' association. We have checked "
                     "the date you proposed and the hall is open on that evening from six o'clock.",
                     "Please let us know the total number of guests by the end of the month, so that we can "
                     "arrange enough chairs and tea. The time of the talk can be moved if the speaker prefers.",
                     "Yours sincerely,", "Martin Hale"]),
    dict(kind="document", lang="en", variants=[], queries=["lease agreement", "950 pounds"], face="serif",
         footer="Page 1 of 4",
         title="Lease Agreement",
         paragraphs=["This agreement is made on the date written below between the landlord and the tenant "
                     "named in the schedule.",
                     "1. The tenant shall pay the total rent of 950 pounds each month, on or before the first "
                     "day of the month.",
                     "2. The landlord shall keep the roof, walls and drains in good repair and shall give "
                     "notice before any visit.",
                     "3. Either party may end this lease agreement with two months' notice in writing."]),
    dict(kind="document", lang="zh", variants=["rotated"], queries=["春节联欢会"], face="sans", footer="第 1 页",
         title="关于举办春节联欢会的通知",
         paragraphs=["各位同事：", "公司定于2025年1月24日下午举办春节联欢会，时间为14:00至17:00，地点在一楼大厅。",
                     "请各部门于1月20日前报送节目名单，会议结束后统一安排彩排。", "日期：2025年1月10日", "行政部"]),
    dict(kind="document", lang="en", variants=["low-contrast", "jpeg"], queries=["warranty certificate"],
         face="sans", footer="Page 1", title="Warranty Certificate",
         paragraphs=["This certificate confirms that the product below is covered for two years from the "
                     "date of purchase.",
                     "Model: VX-200 kettle. Serial number 55-0193-7.",
                     "Please keep this page together with the receipt. The total cost of repair or replacement "
                     "is covered during the warranty period."]),
    dict(kind="document", lang="en", variants=["rotated"], queries=["lemon drizzle"], face="sans", footer="Page 1",
         title="Lemon Drizzle Cake",
         paragraphs=["Time: 1 hour. Serves 8.",
                     "Beat 225 g of butter with 225 g of sugar, then add four eggs one at a time.",
                     "Fold in the flour and the zest of one lemon, and bake at 180 C for 45 minutes.",
                     "Mix the juice of the lemon with sugar and pour it over the warm cake. Open the oven "
                     "door as little as possible."]),
    dict(kind="document", lang="zh", variants=["small"], queries=["图书馆"], face="sans", footer="第 3 页",
         title="图书馆借阅规则",
         paragraphs=["一、读者凭借阅证每次可借图书五册，借期为三十天。", "二、开放时间为每周二至周日 9:00-20:00，周一闭馆。",
                     "三、请爱护图书，逾期归还需缴纳滞纳金，总计不超过书价。", "日期：2024年9月1日"]),
]

# --- the look-alikes: the same layouts with bars and shapes for words, and photo-like pictures ---

PLAIN = [
    ("screenshot", []), ("screenshot", ["blur"]), ("screenshot", ["jpeg"]), ("screenshot", ["low-contrast"]),
    ("receipt", []), ("receipt", ["rotated"]), ("receipt", ["blur"]),
    ("sign", ["jpeg"]), ("sign", ["jpeg", "rotated"]), ("sign", ["jpeg"]), ("sign", ["jpeg", "blur"]),
    ("slide", []), ("slide", ["jpeg"]), ("slide", ["rotated"]),
    ("document", []), ("document", ["small"]),
    ("poster", []),
    ("photo", ["jpeg"]), ("photo", ["jpeg"]), ("photo", ["jpeg"]),
]
SIGN_COLOURS = [(22, 70, 160), (0, 122, 61), (196, 30, 36), (24, 84, 52), (24, 24, 28), (200, 150, 0)]


def dummy(rng, lo, hi, upper=False):
    """Stand-in words for a look-alike: only their widths are used, for the bars."""
    words = ["".join(rng.choice("abcdefghiklmnoprstuw") for _ in range(rng.randint(2, 9)))
             for _ in range(rng.randint(lo, hi))]
    text = " ".join(words)
    return text.upper() if upper else text


def plain_spec(rng, kind, variants):
    spec = dict(kind=kind, lang="none", variants=list(variants), queries=[])
    if kind == "screenshot":
        spec.update(title=dummy(rng, 1, 3), button=dummy(rng, 1, 1),
                    lines=[dummy(rng, 3, 7) for _ in range(rng.randint(3, 7))])
    elif kind == "receipt":
        rows = [("h", dummy(rng, 1, 3, True)), ("c", dummy(rng, 2, 4)), ("-",)]
        rows += [("r", dummy(rng, 1, 3), "00.00") for _ in range(rng.randint(3, 6))]
        rows += [("-",), ("t", dummy(rng, 1, 1, True), "000.00"), ("c", dummy(rng, 3, 5))]
        spec.update(rows=rows)
    elif kind == "sign":
        spec.update(title=dummy(rng, 1, 2, True), subs=[dummy(rng, 2, 5)], colour=rng.choice(SIGN_COLOURS),
                    arrow=rng.random() < 0.4)
    elif kind == "slide":
        spec.update(title=dummy(rng, 2, 4), footer=dummy(rng, 1, 2), dark=rng.random() < 0.4,
                    bullets=[dummy(rng, 4, 7) for _ in range(rng.randint(3, 5))])
    elif kind == "document":
        spec.update(title=dummy(rng, 2, 4), footer=dummy(rng, 2, 3), face=rng.choice(("serif", "sans")),
                    paragraphs=[dummy(rng, 12, 40) for _ in range(rng.randint(3, 5))])
    elif kind == "poster":
        spec.update(headline=dummy(rng, 2, 2, True), footer=dummy(rng, 2, 3),
                    subs=[dummy(rng, 2, 5) for _ in range(3)])
    return spec


# --- drawing ------------------------------------------------------------------------------------

def check_fonts():
    missing = [(path, package) for path, package in FONTS.values() if not os.path.isfile(path)]
    if missing:
        sys.exit("make-ocr-set.py: missing font(s):\n" + "\n".join(
            f"  {path} (install the Debian package {package})" for path, package in missing))


@lru_cache(maxsize=None)
def load_font(name, size):
    return ImageFont.truetype(FONTS[name][0], size)


def mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


class Pen:
    """Draws an image's words and keeps them for its label; for a look-alike, draws a rounded
    grey bar where each word would be, and no glyph."""

    def __init__(self, rng, spec, plain):
        self.rng, self.plain = rng, plain
        self.zh = spec["lang"] == "zh"
        self.variants = spec["variants"]
        self.lines = []

    def font(self, name, size):
        return load_font("zh" if self.zh else name, max(8, int(size)))

    def fit(self, name, size, text, width):
        """The font at `size` or smaller in which `text` is at most `width` wide."""
        while size > 12 and self.font(name, size).getlength(text) > width:
            size -= 2
        return self.font(name, size)

    def text(self, draw, xy, s, font, fill, anchor="la"):
        if not self.plain:
            draw.text(xy, s, font=font, fill=fill, anchor=anchor)
            self.lines.append(s)
            return
        left = draw.textbbox(xy, s, font=font, anchor=anchor)[0]
        _, top, _, bottom = draw.textbbox(xy, "H", font=font, anchor=anchor)
        pad = (bottom - top) * 0.1
        dark = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] < 128
        colour = mix(fill, (175, 175, 175), 0.55) if dark else mix(fill, (0, 0, 0), 0.12)
        pos = 0
        for word in s.split(" "):
            if word:
                x0 = left + font.getlength(s[:pos])
                x1 = left + font.getlength(s[:pos + len(word)])
                draw.rounded_rectangle((x0, top + pad, x1, bottom - pad), radius=max(1, (bottom - top) // 5),
                                       fill=colour)
            pos += len(word) + 1


def wrap(text, font, width, keep=()):
    """Greedy line breaking: at spaces, or between any two Chinese characters; never inside a
    phrase of `keep` (the queries), so each query lies on one line."""
    alternatives = [re.escape(k) for k in sorted(keep, key=len, reverse=True)] + [r"[\x21-\x7e]+", r"\s+", "."]
    tokens = re.findall("|".join(alternatives), text, flags=re.I | re.S)
    lines, current = [], ""
    for token in tokens:
        candidate = current + token
        if current.strip() and font.getlength(candidate.strip()) > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    return lines


def gradient(w, h, top, bottom):
    mask = Image.linear_gradient("L").resize((w, h))
    return Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), mask)


def blotches(rng, w, h, cell):
    sw, sh = w // cell + 2, h // cell + 2
    return Image.frombytes("RGB", (sw, sh), rng.randbytes(sw * sh * 3)).resize((w, h), Image.BICUBIC)


def grain(rng, img, amount):
    w, h = img.size
    noise = Image.frombytes("L", (w, h), rng.randbytes(w * h)).convert("RGB")
    return Image.blend(img, noise, amount)


def photo_background(rng, w, h):
    """Something like a photo behind a sign: a sky-to-ground gradient, blotchy texture, soft
    blocks like buildings and lights."""
    sky = rng.choice([(150, 180, 210), (200, 200, 190), (120, 130, 150), (210, 180, 150)])
    ground = rng.choice([(70, 70, 60), (90, 80, 70), (60, 75, 60), (110, 105, 100)])
    texture = blotches(rng, w, h, rng.choice((40, 80, 160))).convert("L").convert("RGB")
    img = Image.blend(gradient(w, h, sky, ground), texture, 0.3)
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    for _ in range(rng.randint(5, 10)):
        x, y = rng.randint(-100, w), rng.randint(h // 4, h)
        bw, bh = rng.randint(60, 260), rng.randint(80, 400)
        shade = rng.randint(40, 150)
        d.rectangle((x, y - bh, x + bw, h), fill=(shade, shade - 10 if shade > 10 else shade, shade + 5, 150))
    for _ in range(rng.randint(4, 12)):
        x, y, r = rng.randint(0, w), rng.randint(0, h), rng.randint(6, 30)
        d.ellipse((x - r, y - r, x + r, y + r), fill=(255, 240, 200, rng.randint(60, 140)))
    img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    return img.filter(ImageFilter.GaussianBlur(3))


def screenshot(pen, spec):
    rng = pen.rng
    small, low = "small" in pen.variants, "low-contrast" in pen.variants
    w = 960 if small else rng.choice((1000, 1100, 1200))
    size = 15 if small else rng.choice((24, 26, 28))
    line_h = int(size * 1.75)
    lines = spec["lines"]
    h = max(640, min(900, 44 + 120 + len(lines) * line_h + int(size * 2) + 120))
    desktop = rng.choice([(58, 82, 118), (44, 62, 80), (96, 110, 130), (36, 99, 94)])
    if low:  # a washed-out photo of a screen: the wallpaper pale too
        desktop = mix(desktop, (255, 255, 255), 0.7)
    img = gradient(w, h, desktop, mix(desktop, (0, 0, 0), 0.4))
    d = ImageDraw.Draw(img)
    m = rng.randint(36, 56)
    x0, y0, x1, y1 = m, m, w - m, h - m
    window = (238, 238, 238) if low else (252, 252, 252)
    bar = (226, 226, 226) if low else (222, 226, 232)
    ink = (150, 150, 150) if low else (33, 37, 41)
    d.rounded_rectangle((x0, y0, x1, y1), radius=10, fill=window)
    d.rounded_rectangle((x0, y0, x1, y0 + 54), radius=10, fill=bar)
    d.rectangle((x0, y0 + 30, x1, y0 + 44), fill=bar)
    for i, c in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        cx = x0 + 22 + i * 22
        d.ellipse((cx - 7, y0 + 15, cx + 7, y0 + 29), fill=mix(c, bar, 0.5) if low else c)
    pen.text(d, ((x0 + x1) / 2, y0 + 22), spec["title"], pen.font("bold", 14 if small else 18), ink, "mm")
    left = x0 + 40
    if rng.random() < 0.5:  # a sidebar of icons
        side = x0 + rng.randint(160, 220)
        d.rectangle((x0, y0 + 44, side, y1 - 10), fill=mix(window, (0, 0, 0), 0.04))
        for i in range(rng.randint(4, 8)):
            yy = y0 + 70 + i * 42
            if yy + 20 < y1 - 20:
                d.rounded_rectangle((x0 + 20, yy, x0 + 40, yy + 20), radius=4, fill=mix(window, ink, 0.35))
                d.rounded_rectangle((x0 + 52, yy + 5, side - rng.randint(25, 70), yy + 15), radius=4,
                                    fill=mix(window, ink, 0.18))
        left = side + 40
    y = y0 + 44 + 40
    body = pen.font("sans", size)
    for line in lines:
        pen.text(d, (left, y), line, body, ink)
        y += line_h
    bfont = pen.font("bold", max(14, size - 2))
    bw = bfont.getlength(spec["button"]) + 2.4 * size
    bh = size * 2
    bx1, by1 = x1 - 40, y1 - 36
    accent = (200, 212, 228) if low else (37, 99, 235)
    d.rounded_rectangle((bx1 - bw, by1 - bh, bx1, by1), radius=6, fill=accent)
    pen.text(d, (bx1 - bw / 2, by1 - bh / 2), spec["button"], bfont, (246, 246, 246) if low else (255, 255, 255), "mm")
    return img, (40, 40, 44)


def receipt(pen, spec):
    rng = pen.rng
    small, low = "small" in pen.variants, "low-contrast" in pen.variants
    size = 15 if small else (24 if pen.zh else 22)
    body, head = pen.font("mono", size), pen.font("bold", size * 1.4)
    line_h = int(size * (1.9 if pen.zh else 1.55))
    rows = spec["rows"]
    need = 0
    for row in rows:
        if row[0] in "hc":
            need = max(need, (head if row[0] == "h" else body).getlength(row[1]))
        elif row[0] in "rt":
            need = max(need, body.getlength(row[1] + "    " + row[2]))
    paper_w = int(max(need, 20 * body.getlength("0")) + 2.6 * size)
    paper_h = int(len(rows) * line_h + size * 1.2 + 5 * size)
    w = max(600 if not small else 560, paper_w + rng.randint(140, 240))
    h = min(1300, max(900, paper_h + rng.randint(140, 260)))
    table = rng.choice([(120, 85, 60), (70, 70, 76), (150, 120, 90), (52, 60, 58)])
    if low:  # faded print on a pale table
        table = mix(table, (255, 255, 255), 0.65)
    img = Image.new("RGB", (w, h), table)
    d = ImageDraw.Draw(img)
    for _ in range(40):  # wood grain
        yy = rng.randint(0, h)
        d.line((0, yy, w, yy + rng.randint(-30, 30)), fill=mix(table, (0, 0, 0), rng.uniform(0.05, 0.2)),
               width=rng.randint(1, 4))
    paper = (245, 243, 235) if low else (252, 250, 244)
    ink = (150, 148, 142) if low else (30, 30, 34)
    px = (w - paper_w) // 2 + rng.randint(-30, 30)
    py = (h - paper_h) // 2 + rng.randint(-40, 40)
    d.rectangle((px + 7, py + 7, px + paper_w + 7, py + paper_h + 7), fill=mix(table, (0, 0, 0), 0.35))
    d.rectangle((px, py, px + paper_w, py + paper_h), fill=paper)
    for i in range(0, paper_w, 16):  # torn edge
        d.polygon([(px + i, py + paper_h + 1), (px + i + 8, py + paper_h - 7), (px + i + 16, py + paper_h + 1)],
                  fill=table)
    y = py + size * 2
    margin = 1.3 * size
    for row in rows:
        if row[0] == "h":
            pen.text(d, (px + paper_w / 2, y), row[1], head, ink, "ma")
            y += int(size * 1.4 * 1.5)
            continue
        if row[0] == "c":
            pen.text(d, (px + paper_w / 2, y), row[1], body, ink, "ma")
        elif row[0] in "rt":
            pen.text(d, (px + margin, y), row[1], body, ink)
            pen.text(d, (px + paper_w - margin, y), row[2], body, ink, "ra")
        else:
            mid = y + size // 2
            if spec.get("rule") == "solid":
                d.rectangle((px + margin, mid, px + paper_w - margin, mid + 1), fill=ink)
            else:
                for x in range(int(px + margin), int(px + paper_w - margin), 12):
                    d.rectangle((x, mid, x + 6, mid + 1), fill=ink)
        y += line_h
    return img, table


def sign(pen, spec):
    rng = pen.rng
    w, h = rng.choice(((1200, 800), (1100, 825), (1000, 750)))
    img = photo_background(rng, w, h)
    colour = spec["colour"]
    ink = spec.get("ink", (255, 255, 255))
    big = pen.fit("bold", spec.get("size", 110), spec["title"], w * 0.55)
    sub = pen.font("sans", max(26, big.size // 3))
    arrow = big.size if spec.get("arrow") else 0
    text_w = max([big.getlength(spec["title"])] + [sub.getlength(s) for s in spec["subs"]])
    pad = int(big.size * 0.45)
    bw = int(text_w + arrow + 2 * pad + (pad if arrow else 0))
    bh = int(big.size * 1.25 + len(spec["subs"]) * sub.size * 1.45 + 1.6 * pad)
    board = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    d = ImageDraw.Draw(board)
    d.rounded_rectangle((0, 0, bw - 1, bh - 1), radius=pad // 2, fill=colour + (255,))
    d.rounded_rectangle((9, 9, bw - 10, bh - 10), radius=pad // 3, outline=ink + (255,), width=4)
    if arrow:
        ax, ay, s = pad, pad * 0.8 + big.size * 0.1, big.size
        d.polygon([(ax, ay + s / 2), (ax + s / 2, ay), (ax + s / 2, ay + s * 0.3), (ax + s, ay + s * 0.3),
                   (ax + s, ay + s * 0.7), (ax + s / 2, ay + s * 0.7), (ax + s / 2, ay + s)], fill=ink + (255,))
    cx = arrow + (pad if arrow else 0) + (bw - arrow - (pad if arrow else 0)) / 2
    y = pad * 0.8
    pen.text(d, (cx, y), spec["title"], big, ink + (255,), "ma")
    y += big.size * 1.25
    for s in spec["subs"]:
        pen.text(d, (cx, y), s, sub, ink + (255,), "ma")
        y += sub.size * 1.45
    if "rotated" in pen.variants:
        board = board.rotate(rng.uniform(3, 6) * rng.choice((-1, 1)), resample=Image.BICUBIC, expand=True)
    scale = min(1.0, (w * 0.9) / board.width, (h * 0.8) / board.height)
    if scale < 1.0:
        board = board.resize((int(board.width * scale), int(board.height * scale)), Image.LANCZOS)
    x = rng.randint(20, w - board.width - 20)
    top = rng.randint(20, max(20, h - board.height - 60))
    pole = (rng.randint(70, 110),) * 3
    pc = x + board.width // 2
    ImageDraw.Draw(img).rectangle((pc - 10, top + board.height // 2, pc + 10, h), fill=pole)
    img.paste(board, (x, top), board)
    return grain(rng, img, 0.06), None


def poster(pen, spec):
    rng = pen.rng
    w, h = 800, rng.choice((1067, 1100, 1131))
    bg = rng.choice([(250, 236, 210), (28, 40, 80), (245, 245, 240), (120, 30, 60), (20, 90, 100)])
    dark = sum(bg) < 380
    ink = (250, 250, 245) if dark else (30, 30, 40)
    accent = rng.choice([(240, 170, 40), (230, 80, 70), (90, 180, 220)])
    img = Image.new("RGB", (w, h), bg)
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    for _ in range(rng.randint(3, 6)):  # decoration below the words
        r = rng.randint(60, 220)
        cx, cy = rng.randint(0, w), rng.randint(int(h * 0.78), h + 100)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=accent + (rng.randint(90, 200),))
    d.rectangle((0, 0, w, 24), fill=accent + (255,))
    img = Image.alpha_composite(img.convert("RGBA"), layer).convert("RGB")
    d = ImageDraw.Draw(img)
    big = pen.fit("bold", spec.get("size", 100), spec["headline"], w - 110)
    y = int(h * 0.12)
    pen.text(d, (w / 2, y), spec["headline"], big, ink, "ma")
    y += int(big.size * 1.5)
    d.rectangle((w / 2 - 120, y, w / 2 + 120, y + 8), fill=accent)
    y += 50
    sub = pen.font("sans", 36)
    for s in spec["subs"]:
        pen.text(d, (w / 2, y), s, pen.fit("sans", 36, s, w - 100), ink, "ma")
        y += int(sub.size * 1.7)
    pen.text(d, (w / 2, y + 30), spec["footer"], pen.font("bold", 30), accent if dark else ink, "ma")
    return img, (60, 56, 52)


def slide(pen, spec):
    rng = pen.rng
    w, h = 1280, 720
    dark = spec.get("dark", False)
    bg = (30, 34, 48) if dark else (255, 255, 255)
    ink = (240, 240, 245) if dark else (30, 34, 48)
    accent = rng.choice([(37, 99, 235), (220, 90, 40), (16, 150, 110), (150, 60, 190)])
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 14), fill=accent)
    title = pen.fit("bold", 52, spec["title"], w - 160)
    pen.text(d, (80, 64), spec["title"], title, ink)
    d.rectangle((80, 64 + title.size * 1.3, 240, 64 + title.size * 1.3 + 6), fill=accent)
    size = 32
    body = pen.font("sans", size)
    y = 64 + title.size * 1.3 + 60
    chart = rng.random() < 0.4
    for b in spec["bullets"]:
        d.ellipse((96, y + size * 0.35, 110, y + size * 0.35 + 14), fill=accent)
        pen.text(d, (130, y), b, pen.fit("sans", size, b, (w * 0.55 if chart else w - 200)), ink)
        y += int(size * 1.9)
    if chart:  # bars of a chart on the right
        base, x = h - 120, int(w * 0.72)
        for i in range(5):
            bh = rng.randint(60, 300)
            d.rectangle((x + i * 60, base - bh, x + i * 60 + 40, base), fill=mix(accent, bg, 0.25 * (i % 2)))
        d.line((x - 10, base, x + 310, base), fill=ink, width=2)
    pen.text(d, (w - 60, h - 36), spec["footer"], pen.font("sans", 18), mix(ink, bg, 0.4), "rs")
    return img, (20, 20, 24)


def document(pen, spec):
    rng = pen.rng
    small, low = "small" in pen.variants, "low-contrast" in pen.variants
    size = (16 if pen.zh else 15) if small else (22 if pen.zh else 20)
    w, h = (900, 1200) if small else (850, 1100)
    page = (238, 236, 230) if low else rng.choice([(255, 255, 255), (250, 248, 242)])
    ink = (160, 158, 152) if low else (25, 25, 30)
    img = Image.new("RGB", (w, h), page)
    d = ImageDraw.Draw(img)
    margin = 90
    y = 100
    if spec["title"]:
        tf = pen.fit("bold", size * 1.7, spec["title"], w - 2 * margin)
        pen.text(d, (margin, y), spec["title"], tf, ink)
        y += int(tf.size * 2.2)
    body = pen.font(spec["face"], size)
    for para in spec["paragraphs"]:
        for line in wrap(para, body, w - 2 * margin, spec["queries"]):
            pen.text(d, (margin, y), line, body, ink)
            y += int(size * 1.55)
        y += int(size * 0.8)
    pen.text(d, (w / 2, h - 60), spec["footer"], pen.font(spec["face"], max(14, size - 4)), mix(ink, page, 0.3), "ma")
    return img, (70, 70, 74)


def photo(pen, spec):
    """A natural-looking picture with no words: a landscape, a texture or out-of-focus lights."""
    rng = pen.rng
    w, h = rng.choice(((1200, 800), (1024, 768), (900, 1200)))
    style = spec["style"]
    if style == 0:  # hills under a sky
        img = gradient(w, h, rng.choice([(90, 140, 210), (250, 170, 120)]), (235, 230, 215))
        d = ImageDraw.Draw(img)
        r = rng.randint(40, 90)
        sx, sy = rng.randint(r, w - r), rng.randint(r, h // 3)
        d.ellipse((sx - r, sy - r, sx + r, sy + r), fill=(255, 244, 210))
        for i, c in enumerate([(90, 120, 90), (60, 95, 65), (40, 70, 45)]):
            base = int(h * (0.5 + 0.15 * i))
            pts = [(0, h)] + [(x, base + rng.randint(-60, 60)) for x in range(0, w + 100, 100)] + [(w, h)]
            d.polygon(pts, fill=c)
        img = img.filter(ImageFilter.GaussianBlur(2))
    elif style == 1:  # gravel or leaves
        img = Image.blend(blotches(rng, w, h, 12), blotches(rng, w, h, 50), 0.5)
        img = Image.blend(img, Image.new("RGB", (w, h), rng.choice([(90, 110, 60), (130, 120, 100)])), 0.5)
    else:  # lights out of focus
        img = gradient(w, h, (20, 20, 40), (50, 30, 40)).convert("RGBA")
        for _ in range(60):
            layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
            r = rng.randint(15, 90)
            x, y = rng.randint(0, w), rng.randint(0, h)
            c = rng.choice([(255, 200, 120), (255, 120, 90), (120, 180, 255), (255, 240, 200)])
            ImageDraw.Draw(layer).ellipse((x - r, y - r, x + r, y + r), fill=c + (rng.randint(40, 120),))
            img = Image.alpha_composite(img, layer)
        img = img.convert("RGB").filter(ImageFilter.GaussianBlur(4))
    return grain(rng, img, 0.06), None


DRAW = dict(screenshot=screenshot, receipt=receipt, sign=sign, poster=poster, slide=slide, document=document,
            photo=photo)


def render(rng, spec, plain):
    pen = Pen(rng, spec, plain)
    img, fill = DRAW[spec["kind"]](pen, spec)
    if "rotated" in spec["variants"] and spec["kind"] != "sign":  # a sign's board turns, not the photo
        # 3 to 5 degrees: Tesseract deskews up to about 6; a spec may ask for more, as a hard case.
        angle = spec.get("angle", rng.uniform(3, 5)) * rng.choice((-1, 1))
        img = img.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=fill)
    if "blur" in spec["variants"]:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 1.5)))
    assert 600 <= max(img.size) <= 1400, (spec, img.size)
    return img, "\n".join(pen.lines)


# --- checks of the set's promises ---------------------------------------------------------------

def squeeze(s):
    """For substring tests: lower case, no whitespace at all (Chinese OCR puts spaces between
    characters; removing all makes the test only stricter for English)."""
    return re.sub(r"\s+", "", s.lower())


def check_labels(labels):
    for label in labels:
        text = squeeze(label["text"])
        if label["lang"] == "none":
            assert not label["queries"] and not label["text"], label["file"]
            continue
        assert 1 <= len(label["queries"]) <= 2, label["file"]
        fillers = FILLER_ZH if label["lang"] == "zh" else FILLER_EN
        shared = [f for f in fillers if re.search(rf"(?<![a-z]){re.escape(f)}(?![a-z])", label["text"].lower())]
        assert len(shared) >= (1 if label["lang"] == "zh" else 2), (label["file"], "too few filler words")
        for q in label["queries"]:
            assert squeeze(q) in text, (label["file"], q, "query not drawn")
            words = [part for part in q.lower().split() if len(part) >= 3]
            assert not any(part in label["file"].lower() for part in words), (label["file"], q, "in the name")
            for other in labels:
                if other is not label:
                    assert squeeze(q) not in squeeze(other["text"]), (q, "also in", other["file"])
                    assert q.lower() not in [o.lower() for o in other["queries"]], (q, "twice")


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        sys.exit("usage: make-ocr-set.py OUT_DIR")
    out = sys.argv[1]
    check_fonts()
    os.makedirs(out, exist_ok=True)
    for stale in glob.glob(os.path.join(out, "ocr-*.*")) + glob.glob(os.path.join(out, "plain-*.*")):
        os.remove(stale)
    rng = random.Random(SEED)
    labels = []
    jobs = [(f"ocr-{i:03d}", spec, False) for i, spec in enumerate(WORDS, 1)]
    styles = iter(range(3))
    for i, (kind, variants) in enumerate(PLAIN, 1):
        spec = plain_spec(rng, kind, variants)
        if kind == "photo":
            spec["style"] = next(styles)
        jobs.append((f"plain-{i:03d}", spec, True))
    for stem, spec, plain in jobs:
        img, text = render(rng, spec, plain)
        jpeg = "jpeg" in spec["variants"]
        name = stem + (".jpg" if jpeg else ".png")
        path = os.path.join(out, name)
        if jpeg:
            img.save(path, "JPEG", quality=JPEG_QUALITY, optimize=True)
        else:
            img.save(path, "PNG", optimize=True)
        labels.append(dict(file=name, kind=spec["kind"], lang=spec["lang"], variants=spec["variants"],
                           queries=spec["queries"], text=text))
    check_labels(labels)
    with open(os.path.join(out, "labels.json"), "w", encoding="utf-8") as f:
        json.dump(labels, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"make-ocr-set.py: {len(labels)} images in {out}")


if __name__ == "__main__":
    main()
