#!/usr/bin/env python3
"""Writes a motion photo the way phones do: a JPEG still with an MP4 clip inside the file.

  google:  Google's Motion Photo XMP (a Container directory giving the clip's length, counted
           from the end of the file) in an APP1 segment, the clip appended after the picture.
  samsung: the picture, the marker `MotionPhoto_Data`, the clip, then an SEF directory.

Used by the motion-photo tests (tests/it/video.rs) and the browser tests' data (scripts/e2e-data.sh).
"""
import argparse
import struct

XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"'
    ' xmlns:Container="http://ns.google.com/photos/1.0/container/"'
    ' xmlns:Item="http://ns.google.com/photos/1.0/container/item/"'
    ' GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0">'
    "<Container:Directory><rdf:Seq>"
    '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>'
    '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{length}" Item:Padding="0"/></rdf:li>'
    "</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>"
)


def google(jpeg: bytes, clip: bytes) -> bytes:
    segment = b"http://ns.adobe.com/xap/1.0/\0" + XMP.format(length=len(clip)).encode()
    app1 = b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment
    return jpeg[:2] + app1 + jpeg[2:] + clip


def samsung(jpeg: bytes, clip: bytes) -> bytes:
    # The SEF directory: a header, one entry (type, offset back, length), its size and `SEFT`.
    directory = b"SEFH" + struct.pack("<III", 107, 1, 0x0A30) + struct.pack("<II", len(clip) + 16, len(clip) + 16)
    return jpeg + b"MotionPhoto_Data" + clip + directory + struct.pack("<I", len(directory)) + b"SEFT"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("still", help="a JPEG")
    parser.add_argument("clip", help="an MP4")
    parser.add_argument("out")
    parser.add_argument("--marking", choices=["google", "samsung"], default="google")
    args = parser.parse_args()
    jpeg, clip = open(args.still, "rb").read(), open(args.clip, "rb").read()
    if not jpeg.startswith(b"\xff\xd8"):
        raise SystemExit(f"{args.still} is not a JPEG")
    with open(args.out, "wb") as out:
        out.write((google if args.marking == "google" else samsung)(jpeg, clip))


if __name__ == "__main__":
    main()
