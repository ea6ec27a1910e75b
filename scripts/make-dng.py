#!/usr/bin/env python3
"""Writes a DNG from an image the way a camera does: the image's pixels as a 12-bit Bayer (RGGB)
mosaic of linear light, with the colour tags that make a raw developer give back the image.
With --preview the camera's full-size JPEG rendering is in IFD 0 and the mosaic in a SubIFD (the
layout of cameras' and Adobe's DNGs); without, the mosaic is IFD 0 (pidng's layout). Optional
EXIF capture date and orientation.

Used by the tests (tests/it/formats.rs) and the formats bench, through the virtual environment
scripts/setup.sh makes (PyPI pidng, numpy, Pillow):
    make-dng.py SOURCE OUT.dng [--preview] [--date "YYYY:MM:DD HH:MM:SS"] [--orientation N]
"""
import argparse
import io

import numpy as np
from PIL import Image
from pidng.defs import CFAPattern, DNGVersion, PhotometricInterpretation
from pidng.dng import DNG, Tag, Type, dngIFD, dngTag

WHITE = 4095
# XYZ (D65) to linear sRGB: as the camera matrix, it makes the camera's space linear sRGB.
XYZ_TO_SRGB = [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]]
D65 = 21


def sub_ifd(tag, ifd):
    """A tag pointing to an IFD written below it (pidng's own IFD-typed tags do not encode)."""
    pointer = dngTag((tag[0], Type.Long), [0])
    pointer.subIFD = ifd
    return pointer


def srational(x):
    return [int(round(x * 10000)), 10000]


def mosaic(rgb):
    """The RGGB mosaic of an 8-bit sRGB image, as 12-bit linear values."""
    linear = rgb.astype(np.float64) / 255.0
    linear = np.where(linear <= 0.04045, linear / 12.92, ((linear + 0.055) / 1.055) ** 2.4)
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    raw = np.zeros((h, w), dtype=np.uint16)
    channel = lambda c: np.round(linear[:h, :w, c] * WHITE).astype(np.uint16)
    r, g, b = channel(0), channel(1), channel(2)
    raw[0::2, 0::2] = r[0::2, 0::2]
    raw[0::2, 1::2] = g[0::2, 1::2]
    raw[1::2, 0::2] = g[1::2, 0::2]
    raw[1::2, 1::2] = b[1::2, 1::2]
    return raw


def raw_ifd(dng, raw):
    """The IFD of the sensor data, its one tile appended to the file's data."""
    h, w = raw.shape
    dng.ImageDataStrips.append(raw.astype("<u2").tobytes())
    ifd = dngIFD()
    ifd.offsets = dngTag(Tag.TileOffsets, [0])
    ifd.tags += [
        ifd.offsets,
        dngTag(Tag.NewSubfileType, [0]),
        dngTag(Tag.ImageWidth, [w]),
        dngTag(Tag.ImageLength, [h]),
        dngTag(Tag.TileWidth, [w]),
        dngTag(Tag.TileLength, [h]),
        dngTag(Tag.TileByteCounts, [w * h * 2]),
        dngTag(Tag.BitsPerSample, [16]),
        dngTag(Tag.Compression, [1]),
        dngTag(Tag.SamplesPerPixel, [1]),
        dngTag(Tag.PlanarConfiguration, [1]),
        dngTag(Tag.PhotometricInterpretation, [PhotometricInterpretation.Color_Filter_Array]),
        dngTag(Tag.CFARepeatPatternDim, [2, 2]),
        dngTag(Tag.CFAPattern, CFAPattern.RGGB),
        dngTag(Tag.BlackLevel, [0]),
        dngTag(Tag.WhiteLevel, [WHITE]),
    ]
    return ifd


def camera_tags(args):
    """What DNG puts in IFD 0: the version, the camera, its colours, the capture."""
    exif = dngIFD()
    exif.tags.append(dngTag(Tag.ExifVersion, list(b"0231")))
    if args.date:
        exif.tags.append(dngTag(Tag.DateTimeOriginal, args.date))
    tags = [
        dngTag(Tag.DNGVersion, DNGVersion.V1_4),
        dngTag(Tag.DNGBackwardVersion, DNGVersion.V1_0),
        dngTag(Tag.Make, "clipfind"),
        dngTag(Tag.Model, "test DNG"),
        dngTag(Tag.UniqueCameraModel, "clipfind test DNG"),
        dngTag(Tag.Orientation, [args.orientation]),
        dngTag(Tag.ColorMatrix1, [srational(x) for row in XYZ_TO_SRGB for x in row]),
        dngTag(Tag.CalibrationIlluminant1, [D65]),
        dngTag(Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        sub_ifd(Tag.EXIF_IFD, exif),
    ]
    if args.date:
        tags.append(dngTag(Tag.DateTime, args.date))
    return tags


def preview_ifd(dng, image):
    """IFD 0 holding the full-size JPEG preview."""
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG", quality=92)
    dng.ImageDataStrips.append(jpeg.getvalue())
    ifd = dngIFD()
    ifd.offsets = dngTag(Tag.StripOffsets, [0])
    ifd.tags += [
        ifd.offsets,
        dngTag(Tag.NewSubfileType, [1]),
        dngTag(Tag.ImageWidth, [image.width]),
        dngTag(Tag.ImageLength, [image.height]),
        dngTag(Tag.BitsPerSample, [8, 8, 8]),
        dngTag(Tag.Compression, [7]),
        dngTag(Tag.PhotometricInterpretation, [6]),
        dngTag(Tag.SamplesPerPixel, [3]),
        dngTag(Tag.RowsPerStrip, [image.height]),
        dngTag(Tag.StripByteCounts, [len(jpeg.getvalue())]),
    ]
    return ifd


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--preview", action="store_true")
    parser.add_argument("--date")
    parser.add_argument("--orientation", type=int, default=1)
    args = parser.parse_args()
    image = Image.open(args.source).convert("RGB")

    dng = DNG()
    sensor = raw_ifd(dng, mosaic(np.asarray(image)))
    if args.preview:
        first = preview_ifd(dng, image)
        first.tags.append(sub_ifd(Tag.SubIFD, sensor))
        with_data = [first, sensor]
    else:
        first = sensor
        with_data = [sensor]
    first.tags += camera_tags(args)
    dng.IFDs.append(first)
    size = dng.dataLen()
    # Strips are numbered in the order they were appended: the mosaic first, then the preview.
    for ifd in with_data:
        ifd.offsets.setValue([dng.StripOffsets[0 if ifd is sensor else 1]])
    buf = bytearray(size)
    dng.setBuffer(buf)
    dng.write()
    with open(args.out, "wb") as out:
        out.write(buf)


if __name__ == "__main__":
    main()
