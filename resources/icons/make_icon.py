"""Draw the application icon (resources/icons/app.png, app.ico) with Pillow.

Run ``python resources/icons/make_icon.py`` to regenerate both files.
"""
from pathlib import Path

from PIL import Image, ImageDraw

S = 1024
img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
d = ImageDraw.Draw(img)
# background: rounded square, dark slate
d.rounded_rectangle((40, 40, S - 40, S - 40), radius=200, fill=(37, 48, 66, 255))

def person(cx, top, scale, hair, face, upper, pants, shoe):
    s = scale
    # legs / pants
    d.rounded_rectangle((cx - 95 * s, top + 430 * s, cx - 8 * s, top + 700 * s), radius=30 * s, fill=pants)
    d.rounded_rectangle((cx + 8 * s, top + 430 * s, cx + 95 * s, top + 700 * s), radius=30 * s, fill=pants)
    # shoes
    d.rounded_rectangle((cx - 110 * s, top + 680 * s, cx - 5 * s, top + 730 * s), radius=20 * s, fill=shoe)
    d.rounded_rectangle((cx + 5 * s, top + 680 * s, cx + 110 * s, top + 730 * s), radius=20 * s, fill=shoe)
    # body
    d.rounded_rectangle((cx - 140 * s, top + 210 * s, cx + 140 * s, top + 470 * s), radius=70 * s, fill=upper)
    # arms
    d.rounded_rectangle((cx - 200 * s, top + 230 * s, cx - 130 * s, top + 450 * s), radius=35 * s, fill=(51, 170, 221))
    d.rounded_rectangle((cx + 130 * s, top + 230 * s, cx + 200 * s, top + 450 * s), radius=35 * s, fill=(0, 230, 230))
    # head: hair then face
    d.ellipse((cx - 105 * s, top - 10 * s, cx + 105 * s, top + 200 * s), fill=hair)
    d.ellipse((cx - 80 * s, top + 40 * s, cx + 80 * s, top + 195 * s), fill=face)

person(380, 190, 0.95, (255, 40, 40), (40, 90, 255), (255, 120, 20), (0, 120, 120), (255, 220, 0))
person(660, 250, 0.82, (150, 20, 20), (60, 110, 255), (0, 140, 60), (30, 60, 160), (255, 170, 0))

out = img.resize((256, 256), Image.Resampling.LANCZOS)
root = Path(__file__).resolve().parent
out.save(root / "app.png", optimize=True)
img.resize((512, 512), Image.Resampling.LANCZOS).save(root / "app.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
print("ok")
