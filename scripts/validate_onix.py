#!/usr/bin/env python3
"""Validate ONIX 3.0 SupportingResource fragments against the official ONIX 3.0 reference XSD.

Usage: validate_onix.py DIR_OR_FILE...

Every *.xml file given (or found in a directory) holds one <SupportingResource> fragment, as
the connector stages it (no namespace). Each is wrapped in a minimal ONIX 3.0 message with one
product record, in the reference-tag namespace, and validated with lxml against
onixcheck/schema/xsd3.0/ONIX_BookProduct_3.0_reference.xsd (the XSDs the onixcheck package
ships, pinned in scripts/test). Prints one line per failure and a final count; exits 1 if any
fragment fails, 2 if the validator itself is unavailable.
"""
import os
import sys

try:
    from lxml import etree
    import onixcheck
except ImportError as e:  # pragma: no cover - environment problem
    print(f"validator unavailable: {e} (install the pins of scripts/test into .venv)", file=sys.stderr)
    sys.exit(2)

NS = "http://ns.editeur.org/onix/3.0/reference"
XSD = os.path.join(os.path.dirname(onixcheck.__file__), "schema", "xsd3.0", "ONIX_BookProduct_3.0_reference.xsd")

WRAPPER = """<?xml version="1.0" encoding="UTF-8"?>
<ONIXMessage release="3.0" xmlns="{ns}">
  <Header>
    <Sender><SenderName>OTMM Consonance connector</SenderName></Sender>
    <SentDateTime>20261101T0900Z</SentDateTime>
  </Header>
  <Product>
    <RecordReference>connector.test.{n}</RecordReference>
    <NotificationType>03</NotificationType>
    <ProductIdentifier>
      <ProductIDType>15</ProductIDType>
      <IDValue>9781800000018</IDValue>
    </ProductIdentifier>
    <DescriptiveDetail>
      <ProductComposition>00</ProductComposition>
      <ProductForm>BB</ProductForm>
      <TitleDetail>
        <TitleType>01</TitleType>
        <TitleElement>
          <TitleElementLevel>01</TitleElementLevel>
          <TitleText>Validation record</TitleText>
        </TitleElement>
      </TitleDetail>
    </DescriptiveDetail>
    <CollateralDetail>
{fragment}
    </CollateralDetail>
  </Product>
</ONIXMessage>
"""


def files(args):
    for a in args:
        if os.path.isdir(a):
            for root, _, names in os.walk(a):
                for name in sorted(names):
                    if name.endswith(".xml"):
                        yield os.path.join(root, name)
        else:
            yield a


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    schema = etree.XMLSchema(etree.parse(XSD))
    ok = failed = 0
    for n, path in enumerate(files(argv[1:])):
        with open(path, encoding="utf-8") as f:
            fragment = f.read()
        if "<SupportingResource" not in fragment or fragment.lstrip().startswith("<?xml"):
            print(f"FAIL {path}: not a bare SupportingResource fragment", file=sys.stderr)
            failed += 1
            continue
        doc = etree.fromstring(WRAPPER.format(ns=NS, n=n, fragment=fragment).encode("utf-8"))
        if schema.validate(doc):
            ok += 1
        else:
            failed += 1
            for err in schema.error_log:
                print(f"FAIL {path}: line {err.line}: {err.message}", file=sys.stderr)
    print(f"validated {ok + failed} ONIX fragments against {os.path.basename(XSD)}: {ok} valid, {failed} invalid")
    if ok + failed == 0:
        print("no fragments found", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
