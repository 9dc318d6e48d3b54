#!/usr/bin/python3
# A stand-in for DigitalOcean Spaces on the rehearsal network: the part of the S3 API pgBackRest uses
# (objects, ListObjectsV2 with prefix/delimiter, multipart upload, multi-object delete), buckets taken
# from the virtual-host name (<bucket>.<region>.digitaloceanspaces.com), objects kept under ROOT.
# Request signatures are not verified: the stand-in proves the archive path, not Spaces' access control.
# Usage: spaces-stand-in.py ADDRESS PORT ROOT CERT KEY
import hashlib
import http.server
import os
import re
import sys
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape

from tls_server import serve  # beside this file

address, port, root, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def target(self):
        host = self.headers.get("Host", "").split(":")[0]
        bucket = host.split(".")[0] if host.count(".") >= 3 else ""
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if not bucket:  # path style: /bucket/key
            parts = path.lstrip("/").split("/", 1)
            bucket, path = parts[0], "/" + (parts[1] if len(parts) > 1 else "")
        if not re.match(r"^[a-z0-9][a-z0-9.-]{1,62}$", bucket) or ".." in path:
            return None, None, None
        return bucket, path.lstrip("/"), urllib.parse.parse_qs(url.query, keep_blank_values=True)

    def file(self, bucket, key):
        return os.path.join(root, bucket, "objects", key)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def xml(self, code, text):
        self.reply(code, ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode(), {"Content-Type": "application/xml"})

    def error(self, code, s3code):
        self.xml(code, "<Error><Code>%s</Code><Message>%s</Message></Error>" % (s3code, s3code))

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        bucket, key, query = self.target()
        if bucket is None:
            return self.error(400, "InvalidRequest")
        if key == "":
            return self.list(bucket, query)
        f = self.file(bucket, key)
        if not os.path.isfile(f):
            return self.error(404, "NoSuchKey")
        with open(f, "rb") as fh:
            data = fh.read()
        self.reply(200, data, {"ETag": '"%s"' % hashlib.md5(data).hexdigest(), "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(os.path.getmtime(f))), "Content-Type": "application/octet-stream"})

    def list(self, bucket, query):
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        base = os.path.join(root, bucket, "objects")
        keys, prefixes = [], set()
        for dirpath, _, files in os.walk(base):
            for name in files:
                k = os.path.relpath(os.path.join(dirpath, name), base)
                if not k.startswith(prefix):
                    continue
                rest = k[len(prefix):]
                if delimiter and delimiter in rest:
                    prefixes.add(prefix + rest.split(delimiter)[0] + delimiter)
                else:
                    keys.append(k)
        start = query.get("start-after", [""])[0]
        keys = sorted(k for k in keys if k > start)
        contents = "".join("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>\"x\"</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>" % (escape(k), iso(os.path.getmtime(os.path.join(base, k))), os.path.getsize(os.path.join(base, k))) for k in keys)
        common = "".join("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(p) for p in sorted(prefixes))
        self.xml(200, "<ListBucketResult %s><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>%s%s</ListBucketResult>" % (NS, bucket, escape(prefix), len(keys) + len(prefixes), contents, common))

    def do_PUT(self):
        bucket, key, query = self.target()
        if bucket is None or key == "":
            return self.error(400, "InvalidRequest")
        data = self.body()
        if "uploadId" in query:
            d = os.path.join(root, bucket, "uploads", query["uploadId"][0])
            if not os.path.isdir(d):
                return self.error(404, "NoSuchUpload")
            with open(os.path.join(d, "%05d" % int(query["partNumber"][0])), "wb") as fh:
                fh.write(data)
        else:
            self.store(bucket, key, data)
        self.reply(200, b"", {"ETag": '"%s"' % hashlib.md5(data).hexdigest()})

    def store(self, bucket, key, data):
        f = self.file(bucket, key)
        os.makedirs(os.path.dirname(f), exist_ok=True)
        tmp = "%s.%s.tmp" % (f, uuid.uuid4().hex)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, f)

    def do_POST(self):
        bucket, key, query = self.target()
        if bucket is None:
            return self.error(400, "InvalidRequest")
        data = self.body()
        if "delete" in query:
            deleted = re.findall(rb"<Key>(.*?)</Key>", data)
            for k in deleted:
                f = self.file(bucket, k.decode())
                if os.path.isfile(f):
                    os.remove(f)
            return self.xml(200, "<DeleteResult %s>%s</DeleteResult>" % (NS, "".join("<Deleted><Key>%s</Key></Deleted>" % k.decode() for k in deleted)))
        if "uploads" in query:
            upload = uuid.uuid4().hex
            os.makedirs(os.path.join(root, bucket, "uploads", upload))
            return self.xml(200, "<InitiateMultipartUploadResult %s><Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>" % (NS, bucket, escape(key), upload))
        if "uploadId" in query:
            d = os.path.join(root, bucket, "uploads", query["uploadId"][0])
            if not os.path.isdir(d):
                return self.error(404, "NoSuchUpload")
            parts = sorted(os.listdir(d))
            whole = b"".join(open(os.path.join(d, p), "rb").read() for p in parts)
            self.store(bucket, key, whole)
            for p in parts:
                os.remove(os.path.join(d, p))
            os.rmdir(d)
            return self.xml(200, "<CompleteMultipartUploadResult %s><Bucket>%s</Bucket><Key>%s</Key><ETag>\"%s\"</ETag></CompleteMultipartUploadResult>" % (NS, bucket, escape(key), hashlib.md5(whole).hexdigest()))
        self.error(400, "InvalidRequest")

    def do_DELETE(self):
        bucket, key, query = self.target()
        if bucket is None:
            return self.error(400, "InvalidRequest")
        f = self.file(bucket, key)
        if os.path.isfile(f):
            os.remove(f)
        self.reply(204)


serve(address, port, Handler, cert, key)
