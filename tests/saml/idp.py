#!/usr/bin/python3
"""A SAML 2.0 identity provider played by python3-lasso, for the SP tests (fully offline).

  idp.py metadata --entity-id ID --sso-url URL --cert CERT.pem
      Prints IdP metadata (HTTP-Redirect SSO endpoint, signing certificate).

  idp.py respond --metadata IDP.xml --key KEY.pem --cert CERT.pem --sp-metadata SP.xml
                 --request-url URL --name-id NAME [--attr NAME=VALUE ...] [misbehaviour options]
      Processes the AuthnRequest carried by the HTTP-Redirect URL (its signature is checked
      against the SP metadata) and prints the base64 SAMLResponse of the HTTP-POST binding.

  --name-id-format URN          NameID format sent (default emailAddress)
  --expect-name-id-policy URN   fail unless the request asks for it (default unspecified)

Misbehaviour options (to prove the SP refuses them):
  --tamper-name-id NAME   replace the NameID after signing
  --strip-signatures      remove every ds:Signature after signing
  --audience ID           put another audience into the conditions (signed)
  --expired               conditions and subject confirmation ended an hour ago (signed)
  --in-response-to ID     answer another request id (signed)
  --recipient URL         the IdP sees this ACS URL in the SP metadata (signed Recipient/Destination)
The key passed with --key/--cert signs; pass a foreign key to play a foreign signer.
Must run with Debian's /usr/bin/python3 (python3-lasso lives in its dist-packages).
"""

import argparse
import base64
import datetime
import re
import sys
from urllib.parse import urlsplit

import lasso


def pem_body(path):
    text = open(path).read()
    match = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", text, re.S)
    if not match:
        sys.exit("no certificate in " + path)
    return "".join(match.group(1).split())


def metadata(args):
    print(f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{args.entity_id}">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{pem_body(args.cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="{args.sso_url}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>""")


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def text_value(text):
    node = lasso.MiscTextNode.newWithString(text)
    node.textChild = True
    value = lasso.Saml2AttributeValue()
    value.any = (node,)
    return value


def respond(args):
    server = lasso.Server.newFromBuffers(open(args.metadata).read(), open(args.key).read(), None,
                                         open(args.cert).read())
    server.signatureMethod = lasso.SIGNATURE_METHOD_RSA_SHA256
    sp_metadata = open(args.sp_metadata).read()
    if args.recipient:
        # The IdP believes the SP's ACS is elsewhere: Destination and Recipient (both signed) follow.
        sp_metadata, count = re.subn(r'(<md:AssertionConsumerService[^>]*Location=")[^"]*"',
                                     lambda m: m.group(1) + args.recipient + '"', sp_metadata)
        if count != 1:
            sys.exit("AssertionConsumerService not found in the SP metadata")
    server.addProviderFromBuffer(lasso.PROVIDER_ROLE_SP, sp_metadata)
    login = lasso.Login(server)
    login.processAuthnRequestMsg(urlsplit(args.request_url).query)
    if not login.request.nameIdPolicy or login.request.nameIdPolicy.format != args.expect_name_id_policy:
        sys.exit("unexpected NameIDPolicy in the AuthnRequest")
    login.validateRequestMsg(True, True)

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if args.expired:
        not_before, not_on_or_after = now - datetime.timedelta(hours=2), now - datetime.timedelta(hours=1)
    else:
        not_before, not_on_or_after = now - datetime.timedelta(seconds=30), now + datetime.timedelta(minutes=5)
    login.buildAssertion(lasso.SAML2_AUTHN_CONTEXT_PASSWORD, iso(now), None, iso(not_before),
                         iso(not_on_or_after))
    assertion = login.assertion
    assertion.subject.nameID.content = args.name_id
    assertion.subject.nameID.format = args.name_id_format
    confirmation = assertion.subject.subjectConfirmation.subjectConfirmationData
    confirmation.notOnOrAfter = iso(not_on_or_after)
    assertion.authnStatement[0].sessionIndex = "_session-" + assertion.id
    if args.audience:
        assertion.conditions.audienceRestriction[0].audience = args.audience
    if args.in_response_to:
        confirmation.inResponseTo = args.in_response_to
        login.response.inResponseTo = args.in_response_to

    attributes = {}
    for item in args.attr:
        name, _, value = item.partition("=")
        attributes.setdefault(name, []).append(value)
    if attributes:
        statement = lasso.Saml2AttributeStatement()
        built = []
        for name, values in attributes.items():
            attribute = lasso.Saml2Attribute()
            attribute.name = name
            attribute.nameFormat = lasso.SAML2_ATTRIBUTE_NAME_FORMAT_BASIC
            attribute.attributeValue = tuple(text_value(v) for v in values)
            built.append(attribute)
        statement.attribute = tuple(built)
        assertion.attributeStatement = (statement,)

    login.buildAuthnResponseMsg()

    body = login.msgBody
    if args.tamper_name_id or args.strip_signatures:
        xml = base64.b64decode(body).decode()
        if args.tamper_name_id:
            xml, count = re.subn(r"(<saml:NameID[^>]*>)[^<]*(</saml:NameID>)",
                                 lambda m: m.group(1) + args.tamper_name_id + m.group(2), xml)
            if count != 1:
                sys.exit("NameID not found to tamper with")
        if args.strip_signatures:
            xml, count = re.subn(r"<(ds:)?Signature\b.*?</(ds:)?Signature>", "", xml, flags=re.S)
            if count == 0:
                sys.exit("no signature found to strip")
        body = base64.b64encode(xml.encode()).decode()
    print(body)


def main():
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    md = commands.add_parser("metadata")
    md.add_argument("--entity-id", required=True)
    md.add_argument("--sso-url", required=True)
    md.add_argument("--cert", required=True)
    rs = commands.add_parser("respond")
    for name in ("--metadata", "--key", "--cert", "--sp-metadata", "--request-url", "--name-id"):
        rs.add_argument(name, required=True)
    rs.add_argument("--name-id-format", default=lasso.SAML2_NAME_IDENTIFIER_FORMAT_EMAIL)
    rs.add_argument("--attr", action="append", default=[])
    rs.add_argument("--expect-name-id-policy", default=lasso.SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED)
    rs.add_argument("--tamper-name-id")
    rs.add_argument("--strip-signatures", action="store_true")
    rs.add_argument("--audience")
    rs.add_argument("--expired", action="store_true")
    rs.add_argument("--in-response-to")
    rs.add_argument("--recipient")
    args = parser.parse_args()
    if args.command == "metadata":
        metadata(args)
    else:
        respond(args)


if __name__ == "__main__":
    main()
