#!/usr/bin/env node
'use strict';
/*
 * A Basic Paxos acceptor speaking ballot's acceptor protocol v1
 * (docs/protocol.md), in JavaScript for Node.js with built-in modules only
 * (http, fs, path).
 *
 *   node acceptor.js --id N --listen 127.0.0.1:PORT --data-dir DIR [--bug NAME]...
 *
 * Per key (each key is an independent Basic Paxos instance) it keeps
 * `promised` (the highest ballot promised or accepted), `accepted` (the
 * highest-ballot proposal accepted) and `learned` (a value a proposer said was
 * chosen):
 *
 *   - prepare(b) is granted iff b >= promised; then promised := b.
 *   - accept(b, v) is granted iff b >= promised; then promised := b and
 *     accepted := (b, v).
 *   - learn(b, v) records v; the same value again is fine, another is 409.
 *
 * Durability: every state change appends one line holding the key's whole new
 * state to DATA_DIR/acceptor.log, as `CRC32-HEX SPACE JSON NEWLINE`. Appends
 * are group-committed: the records produced while one write+fdatasync is in
 * flight go out together in the next one. EVERY reply to prepare, accept,
 * learn and state waits until everything appended up to the moment it was
 * decided is durable, so no reply (not even a rejection or a duplicate that
 * changed nothing) reveals state that a kill -9 could still lose. At start-up
 * the log is replayed (the last line per key wins); an unreadable LAST line is
 * a torn write that was never acknowledged and is truncated away; an
 * unreadable line before it is corruption (exit 1). A write or fsync error
 * answers 500 and stops the node (exit 1).
 *
 * The decision logic is synchronous JavaScript, so requests are decided one
 * at a time in arrival order; only the disk I/O is asynchronous.
 *
 * `--bug NAME` (repeatable, or comma-separated) switches on a deliberate
 * mistake; each deviation is marked `BUG name:` below. See README.md.
 */

const http = require('http');
const fs = require('fs');
const path = require('path');

const MAX_KEY_BYTES = 256;
const MAX_VALUE_BYTES = 64 * 1024;
const MAX_BODY_BYTES = MAX_VALUE_BYTES + MAX_KEY_BYTES + 1024;
const MAX_U64 = (1n << 64n) - 1n;
const LOG_NAME = 'acceptor.log';
const LOCK_NAME = 'LOCK';
const WRITE_BEHIND_MS = 200;

const BUGS = {
  'amnesia': 'keeps state in memory only; a restart forgets every promise and acceptance',
  'write-behind': 'replies first and persists in the background about every 200 ms; kill -9 loses acknowledged state',
  'accept-ignores-promise': 'grants any accept whose ballot is >= the accepted ballot, ignoring the promise',
  'reports-oldest': 'keeps and reports the first accepted proposal instead of the highest-ballot one',
  'forgets-accepted': 'persists promises but not accepted proposals; a restart forgets acceptances',
  'promise-backwards': 'grants a prepare below the promise and lowers the stored promise to it',
};

function log(msg) {
  process.stderr.write(`js-acceptor: ${msg}\n`);
}

class BadRequest extends Error {}
class Corrupt extends Error {}
class Usage extends Error {}

// ----- strict JSON ---------------------------------------------------------
//
// JSON.parse would turn every number into a double (u64 ballots above 2^53
// would silently change), accept duplicate fields, and build plain objects in
// which a key such as "__proto__" misbehaves. This small parser returns Maps
// for objects and JsonNumber for numbers (the literal text), and rejects
// duplicate fields and lone surrogates, as serde_json does.

class JsonNumber {
  constructor(raw) { this.raw = raw; }
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function parseJson(text) {
  let i = 0;
  const n = text.length;
  const fail = (msg) => { throw new BadRequest(`invalid request body: ${msg} at offset ${i}`); };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const literal = (word, v) => {
    if (text.startsWith(word, i)) { i += word.length; return v; }
    return fail('invalid literal');
  };
  const hex4 = () => {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('invalid \\u escape');
    i += 4;
    return parseInt(h, 16);
  };
  const string = () => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) { out += text.slice(start, i); i++; return out; }
      if (c < 0x20) fail('control character in string');
      if (c !== 0x5c) { i++; continue; }
      out += text.slice(start, i);
      i++;
      const e = text[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const u = hex4();
          if (u >= 0xdc00 && u <= 0xdfff) fail('lone trailing surrogate in \\u escape');
          if (u >= 0xd800 && u <= 0xdbff) {
            if (text[i] !== '\\' || text[i + 1] !== 'u') fail('lone leading surrogate in \\u escape');
            i += 2;
            const lo = hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail('lone leading surrogate in \\u escape');
            out += String.fromCharCode(u, lo);
          } else {
            out += String.fromCharCode(u);
          }
          break;
        }
        default: fail('invalid escape');
      }
      start = i;
    }
  };
  const value = (depth) => {
    if (depth > 32) fail('nested too deeply');
    ws();
    if (i >= n) fail('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map();
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a field name');
        const k = string();
        if (obj.has(k)) fail(`duplicate field \`${k}\``);
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        obj.set(k, value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m) { i += m[0].length; return new JsonNumber(m[0]); }
    return fail('unexpected character');
  };
  const v = value(0);
  ws();
  if (i !== n) fail('trailing characters');
  return v;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function typeName(v) {
  if (v === null) return 'null';
  if (v instanceof Map) return 'an object';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof JsonNumber) return 'a number';
  return `a ${typeof v}`;
}

// ----- request validation --------------------------------------------------

function fields(obj, wanted, what) {
  if (!(obj instanceof Map)) throw new BadRequest(`${what}: expected a JSON object, not ${typeName(obj)}`);
  for (const k of obj.keys()) {
    if (!wanted.includes(k)) throw new BadRequest(`${what}: unknown field \`${k}\`, expected ${wanted.map((w) => `\`${w}\``).join(', ')}`);
  }
  for (const w of wanted) {
    if (!obj.has(w)) throw new BadRequest(`${what}: missing field \`${w}\``);
  }
}

function parseU64(v, what) {
  if (!(v instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(v.raw)) {
    throw new BadRequest(`${what} must be an unsigned 64-bit integer`);
  }
  const b = BigInt(v.raw);
  if (b > MAX_U64) throw new BadRequest(`${what} is out of range for u64`);
  return b;
}

function parseBallot(v, what) {
  // Like the request body itself, a ballot has exactly these two fields.
  fields(v, ['round', 'proposer'], what);
  return { round: parseU64(v.get('round'), `${what}.round`), proposer: parseU64(v.get('proposer'), `${what}.proposer`) };
}

function parseString(v, what) {
  if (typeof v !== 'string') throw new BadRequest(`${what} must be a string, not ${typeName(v)}`);
  return v;
}

function checkKey(key) {
  if (key === '') throw new BadRequest('key must not be empty');
  const size = Buffer.byteLength(key, 'utf8');
  if (size > MAX_KEY_BYTES) throw new BadRequest(`key is ${size} bytes, more than the limit of ${MAX_KEY_BYTES}`);
}

function checkValue(value) {
  const size = Buffer.byteLength(value, 'utf8');
  if (size > MAX_VALUE_BYTES) throw new BadRequest(`value is ${size} bytes, more than the limit of ${MAX_VALUE_BYTES}`);
}

/** Parses the body of prepare (key, ballot) or accept/learn (key, ballot, value). */
function parseRequest(body, withValue) {
  let text;
  try {
    text = utf8.decode(body);
  } catch (e) {
    throw new BadRequest('invalid request body: not valid UTF-8');
  }
  const obj = parseJson(text);
  const wanted = withValue ? ['key', 'ballot', 'value'] : ['key', 'ballot'];
  fields(obj, wanted, 'invalid request body');
  const req = {
    key: parseString(obj.get('key'), 'key'),
    ballot: parseBallot(obj.get('ballot'), 'ballot'),
  };
  if (withValue) req.value = parseString(obj.get('value'), 'value');
  checkKey(req.key);
  if (withValue) checkValue(req.value);
  if (req.ballot.round < 1n) throw new BadRequest('ballot round must be at least 1');
  return req;
}

// ----- ballots and JSON output ---------------------------------------------

/** Compares ballots (null is below every ballot): negative, 0 or positive. */
function cmp(a, b) {
  if (a === null || b === null) return (a === null ? 0 : 1) - (b === null ? 0 : 1);
  if (a.round !== b.round) return a.round < b.round ? -1 : 1;
  if (a.proposer !== b.proposer) return a.proposer < b.proposer ? -1 : 1;
  return 0;
}

// Hand-written so that u64 BigInts print exactly (JSON.stringify cannot).
const str = (s) => JSON.stringify(s);
const ballotJson = (b) => (b === null ? 'null' : `{"round":${b.round},"proposer":${b.proposer}}`);
const acceptedJson = (a) => (a === null ? 'null' : `{"ballot":${ballotJson(a.ballot)},"value":${str(a.value)}}`);
const learnedJson = (l) => (l === null ? 'null' : str(l));
const stateJson = (s) => `{"promised":${ballotJson(s.promised)},"accepted":${acceptedJson(s.accepted)},"learned":${learnedJson(s.learned)}}`;

// ----- CRC32 (IEEE), for the log records -------------------------------------

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function crc32(buf) {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

// ----- durable storage -----------------------------------------------------

function fsyncDir(dir) {
  const fd = fs.openSync(dir, 'r');
  try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
}

function mkdirDurable(dir) {
  if (fs.existsSync(dir)) return;
  mkdirDurable(path.dirname(dir));
  fs.mkdirSync(dir);
  fsyncDir(path.dirname(dir));
}

function encodeRecord(key, s, withAccepted) {
  // BUG forgets-accepted (withAccepted false): the record carries no
  // accepted proposal, so a restart replays the promise and loses it.
  const json = `{"key":${str(key)},"promised":${ballotJson(s.promised)},"accepted":${withAccepted ? acceptedJson(s.accepted) : 'null'},"learned":${learnedJson(s.learned)}}`;
  const body = Buffer.from(json, 'utf8');
  const crc = crc32(body).toString(16).padStart(8, '0');
  return Buffer.concat([Buffer.from(`${crc} `), body, Buffer.from('\n')]);
}

/** Parses one log line (without its newline); throws on anything wrong. */
function decodeRecord(line) {
  const text = utf8.decode(line);
  const m = /^([0-9a-f]{8}) /.exec(text);
  if (!m) throw new Error('no checksum');
  const body = line.subarray(9);
  if (crc32(body) !== parseInt(m[1], 16)) throw new Error('checksum mismatch');
  const obj = parseJson(text.slice(9));
  fields(obj, ['key', 'promised', 'accepted', 'learned'], 'record');
  const key = parseString(obj.get('key'), 'key');
  checkKey(key);
  const promised = obj.get('promised') === null ? null : parseBallot(obj.get('promised'), 'promised');
  let accepted = null;
  if (obj.get('accepted') !== null) {
    const a = obj.get('accepted');
    fields(a, ['ballot', 'value'], 'accepted');
    accepted = { ballot: parseBallot(a.get('ballot'), 'accepted.ballot'), value: parseString(a.get('value'), 'accepted.value') };
  }
  const learned = obj.get('learned') === null ? null : parseString(obj.get('learned'), 'learned');
  return { key, state: { promised, accepted, learned } };
}

/**
 * The append-only log with group commit. `append` queues a record; `whenDurable`
 * calls back once every record appended so far is on disk (or with an error).
 * In write-behind mode (BUG) the log is only flushed by a timer.
 */
class Log {
  constructor(dataDir, { writeBehind }) {
    this.dataDir = dataDir;
    this.file = path.join(dataDir, LOG_NAME);
    this.writeBehind = writeBehind;
    this.pending = [];
    this.appended = 0; // records appended
    this.durable = 0; // records known to be on disk
    this.flushing = false;
    this.waiters = [];
    this.failed = null;
    this.onFail = null;
    this.fd = null;
  }

  /** Replays the log into a Map key -> state; truncates a torn last record. */
  load() {
    mkdirDurable(this.dataDir);
    const instances = new Map();
    const existed = fs.existsSync(this.file);
    if (existed) {
      const data = fs.readFileSync(this.file);
      let pos = 0;
      let lineNo = 0;
      while (pos < data.length) {
        lineNo++;
        const nl = data.indexOf(0x0a, pos);
        const end = nl === -1 ? data.length : nl;
        let rec = null;
        let why = null;
        if (nl === -1) why = 'no newline';
        else {
          try { rec = decodeRecord(data.subarray(pos, end)); } catch (e) { why = e.message; }
        }
        if (rec) {
          instances.set(rec.key, rec.state);
          pos = end + 1;
          continue;
        }
        if (nl === -1 || end + 1 === data.length) {
          // The last record is unreadable: a write torn by a crash. The reply
          // waited for its fsync, so it was never acknowledged: drop it.
          log(`dropping a torn last record (${data.length - pos} bytes, ${why}) at byte offset ${pos} of ${this.file}`);
          const fd = fs.openSync(this.file, 'r+');
          try { fs.ftruncateSync(fd, pos); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
          break;
        }
        throw new Corrupt(`corrupt log ${this.file} at byte offset ${pos} (line ${lineNo}): ${why}`);
      }
    }
    this.fd = fs.openSync(this.file, 'a');
    if (!existed) {
      fs.fsyncSync(this.fd);
      fsyncDir(this.dataDir); // make the new file's directory entry durable
    }
    if (this.writeBehind) {
      // BUG write-behind: a timer flushes whatever has piled up, ~every 200 ms.
      this.timer = setInterval(() => this.flush(), WRITE_BEHIND_MS);
    }
    return instances;
  }

  append(buf) {
    this.pending.push(buf);
    this.appended++;
    if (!this.writeBehind) this.flush();
  }

  whenDurable(cb) {
    if (this.failed) return cb(this.failed);
    const target = this.appended;
    if (this.durable >= target) return cb(null);
    this.waiters.push({ target, cb });
    return undefined;
  }

  flush() {
    if (this.flushing || this.failed || this.pending.length === 0) return;
    this.flushing = true;
    const batch = Buffer.concat(this.pending);
    const upTo = this.appended;
    this.pending = [];
    const written = (off) => {
      if (off < batch.length) {
        fs.write(this.fd, batch, off, batch.length - off, null, (err, n) => (err ? this.fail(err) : written(off + n)));
        return;
      }
      fs.fdatasync(this.fd, (err) => {
        if (err) return this.fail(err);
        this.flushing = false;
        this.durable = upTo;
        const ready = this.waiters.filter((w) => w.target <= upTo);
        this.waiters = this.waiters.filter((w) => w.target > upTo);
        for (const w of ready) w.cb(null);
        this.flush(); // records that arrived meanwhile: the next group
        return undefined;
      });
    };
    written(0);
  }

  fail(err) {
    this.failed = `cannot persist state to ${this.file}: ${err.message}`;
    this.flushing = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.cb(this.failed);
    if (this.onFail) this.onFail(this.failed);
  }

  /** Writes and fsyncs everything pending, synchronously (clean shutdown). */
  drainSync() {
    if (this.failed || this.fd === null || this.pending.length === 0) return;
    const batch = Buffer.concat(this.pending);
    this.pending = [];
    let off = 0;
    while (off < batch.length) off += fs.writeSync(this.fd, batch, off, batch.length - off);
    fs.fdatasyncSync(this.fd);
  }
}

// ----- the acceptor ----------------------------------------------------------

class Acceptor {
  constructor(nodeId, bugs, logFile) {
    this.nodeId = nodeId;
    this.bugs = bugs;
    this.log = logFile; // null under BUG amnesia
    this.instances = new Map();
  }

  state(key) {
    let s = this.instances.get(key);
    if (!s) {
      s = { promised: null, accepted: null, learned: null };
      this.instances.set(key, s);
    }
    return s;
  }

  /** Records the key's new state (in memory at once, on disk via the log). */
  commit(key, s) {
    this.instances.set(key, s);
    // BUG amnesia: with no log nothing is ever written.
    if (this.log) this.log.append(encodeRecord(key, s, !this.bugs.has('forgets-accepted')));
  }

  prepare(req) {
    const s = this.state(req.key);
    if (cmp(req.ballot, s.promised) < 0) {
      if (this.bugs.has('promise-backwards')) {
        // BUG promise-backwards: "the proposer asked, so promise it": the
        // lower ballot is granted and overwrites (lowers) the promise.
        this.commit(req.key, { ...s, promised: req.ballot });
        return [200, `{"ok":true,"promised":${ballotJson(req.ballot)},"accepted":${acceptedJson(s.accepted)}}`];
      }
      return [200, `{"ok":false,"promised":${ballotJson(s.promised)},"accepted":${acceptedJson(s.accepted)}}`];
    }
    // An equal ballot is a duplicate or retry: same answer, nothing to write.
    if (cmp(req.ballot, s.promised) !== 0) this.commit(req.key, { ...s, promised: req.ballot });
    return [200, `{"ok":true,"promised":${ballotJson(req.ballot)},"accepted":${acceptedJson(s.accepted)}}`];
  }

  accept(req) {
    const s = this.state(req.key);
    let granted;
    if (this.bugs.has('accept-ignores-promise')) {
      // BUG accept-ignores-promise: compares with the accepted ballot (as if
      // "don't go back on what I accepted" were the whole rule) instead of
      // the promise.
      granted = cmp(req.ballot, s.accepted === null ? null : s.accepted.ballot) >= 0;
    } else {
      granted = cmp(req.ballot, s.promised) >= 0;
    }
    if (!granted) {
      const promised = s.promised !== null ? s.promised : (s.accepted ? s.accepted.ballot : req.ballot);
      return [200, `{"ok":false,"promised":${ballotJson(promised)}}`];
    }
    let accepted = { ballot: req.ballot, value: req.value };
    if (this.bugs.has('reports-oldest') && s.accepted !== null) {
      // BUG reports-oldest: "accepted is write-once, like the register": the
      // first accepted proposal is kept (and reported by prepare) forever.
      accepted = s.accepted;
    }
    // Accepting raises the promise to b (with accept-ignores-promise this
    // may lower it, as in the real mistake).
    const next = { ...s, promised: req.ballot, accepted };
    const same = cmp(next.promised, s.promised) === 0 && s.accepted !== null
      && cmp(next.accepted.ballot, s.accepted.ballot) === 0 && next.accepted.value === s.accepted.value;
    if (!same) this.commit(req.key, next);
    return [200, `{"ok":true,"promised":${ballotJson(req.ballot)}}`];
  }

  learn(req) {
    const s = this.state(req.key);
    if (s.learned === null) {
      this.commit(req.key, { ...s, learned: req.value });
    } else if (s.learned !== req.value) {
      return [409, `{"error":${str(`key ${str(req.key)} already learned value ${str(s.learned)}, refusing different value ${str(req.value)}`)}}`];
    }
    return [200, '{"ok":true}'];
  }

  dump() {
    // Keys in UTF-8 byte order, like ballot-node's BTreeMap.
    const keys = [...this.instances.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const parts = keys.map((k) => `${str(k)}:${stateJson(this.instances.get(k))}`);
    return [200, `{"node":${this.nodeId},"instances":{${parts.join(',')}}}`];
  }
}

// ----- HTTP ------------------------------------------------------------------

const POSTS = { '/v1/prepare': 'prepare', '/v1/accept': 'accept', '/v1/learn': 'learn' };
const GETS = new Set(['/v1/state', '/v1/health']);

function send(res, status, body, close) {
  const buf = Buffer.from(body, 'utf8');
  const headers = { 'content-type': 'application/json', 'content-length': buf.length };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(buf);
}

const errorBody = (msg) => `{"error":${str(msg)}}`;

function makeHandler(acceptor, ctx) {
  // Replies wait for the log (see the top of the file) unless there is none
  // (BUG amnesia) or it is flushed only by its timer (BUG write-behind).
  const waitDurable = (cb) => {
    if (acceptor.log && !acceptor.log.writeBehind) acceptor.log.whenDurable(cb);
    else if (acceptor.log && acceptor.log.failed) cb(acceptor.log.failed);
    else cb(null);
  };
  const reply = (res, status, body) => waitDurable((err) => {
    if (err) send(res, 500, errorBody(err), true);
    else send(res, status, body);
  });

  return (req, res) => {
    const p = req.url.split('?')[0];
    if (ctx.failed) {
      req.resume();
      return send(res, 500, errorBody(ctx.failed), true);
    }
    if (p === '/v1/health' || p === '/v1/state') {
      req.resume();
      if (req.method !== 'GET') return send(res, 405, errorBody(`method ${req.method} not allowed for ${p}; use GET`));
      if (p === '/v1/health') return send(res, 200, `{"node":${acceptor.nodeId},"ok":true,"roles":["acceptor"]}`);
      // The snapshot is taken now and sent once everything it shows is durable.
      const [status, body] = acceptor.dump();
      return reply(res, status, body);
    }
    const method = Object.prototype.hasOwnProperty.call(POSTS, p) ? POSTS[p] : null;
    if (method === null) {
      req.resume();
      return send(res, 404, errorBody(`no such endpoint: ${p}`));
    }
    if (req.method !== 'POST') {
      req.resume();
      return send(res, 405, errorBody(`method ${req.method} not allowed for ${p}; use POST`));
    }
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) {
      // Do not read it; close the connection after the reply.
      send(res, 400, errorBody(`request body is larger than the limit of ${MAX_BODY_BYTES} bytes`), true);
      res.on('finish', () => req.destroy());
      return undefined;
    }
    const chunks = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c) => {
      if (tooBig) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooBig = true;
        send(res, 400, errorBody(`request body is larger than the limit of ${MAX_BODY_BYTES} bytes`), true);
        res.on('finish', () => req.destroy());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (tooBig) return;
      if (ctx.failed) return send(res, 500, errorBody(ctx.failed), true);
      let parsed;
      try {
        parsed = parseRequest(Buffer.concat(chunks), method !== 'prepare');
      } catch (e) {
        if (e instanceof BadRequest) return send(res, 400, errorBody(e.message));
        throw e;
      }
      const [status, body] = acceptor[method](parsed);
      return reply(res, status, body);
    });
    req.on('error', () => {});
    return undefined;
  };
}

// ----- command line and start-up ---------------------------------------------

const USAGE = `Usage: node acceptor.js --id <ID> --listen 127.0.0.1:<PORT> --data-dir <DIR> [--bug <NAME>]...

A Basic Paxos acceptor speaking ballot's protocol v1.

Options:
  --id <ID>           this node's id (u64), reported by /v1/state and /v1/health
  --listen <ADDR>     loopback address to listen on [default: 127.0.0.1:7000]
  --data-dir <DIR>    directory of the durable log; created if missing; reuse it on restart
  --bug <NAME>        run with a deliberate bug (repeatable or comma-separated), one of:
${Object.entries(BUGS).map(([k, v]) => `                        ${k.padEnd(24)}${v}`).join('\n')}
  --peers <LIST>      accepted and ignored: this node has no proposer role
  -h, --help          print this help
`;

function parseArgs(argv) {
  const opts = { id: null, listen: '127.0.0.1:7000', dataDir: null, bugs: new Set() };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v = null;
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq !== -1) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const take = () => {
      if (v !== null) return v;
      if (i + 1 >= argv.length) throw new Usage(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--id': {
        const s = take();
        if (!/^(0|[1-9][0-9]*)$/.test(s) || BigInt(s) > MAX_U64) throw new Usage(`--id ${s}: must be an unsigned 64-bit integer`);
        opts.id = BigInt(s);
        break;
      }
      case '--listen': opts.listen = take(); break;
      case '--data-dir': opts.dataDir = take(); break;
      case '--bug':
        for (const name of take().split(',').map((x) => x.trim()).filter((x) => x)) {
          if (!Object.prototype.hasOwnProperty.call(BUGS, name)) {
            throw new Usage(`unknown --bug ${name}; known bugs: ${Object.keys(BUGS).join(', ')}`);
          }
          opts.bugs.add(name);
        }
        break;
      case '--peers':
        take();
        log('--peers ignored: this node is an acceptor only (protocol v1)');
        break;
      default: throw new Usage(`unknown argument ${argv[i]}`);
    }
  }
  if (opts.id === null) throw new Usage('--id is required');
  if (opts.dataDir === null) throw new Usage('--data-dir is required');
  const m = /^(?:(127\.\d{1,3}\.\d{1,3}\.\d{1,3})|\[(::1)\]):(\d{1,5})$/.exec(opts.listen);
  if (!m) throw new Usage(`--listen ${opts.listen}: must be a loopback HOST:PORT (127.x.x.x:PORT or [::1]:PORT)`);
  const port = Number(m[3]);
  if (port > 65535 || (m[1] && m[1].split('.').some((o) => Number(o) > 255))) throw new Usage(`--listen ${opts.listen}: out of range`);
  opts.host = m[1] || m[2];
  opts.port = port;
  opts.dataDir = path.resolve(opts.dataDir);
  return opts;
}

/**
 * A best-effort guard against two nodes sharing a data dir (Node has no
 * flock): LOCK holds the owner's pid; it is stale when that pid is gone or
 * is not a process whose command line names this data dir (a pid reused by
 * something else, or a zombie left by kill -9, whose cmdline is empty).
 */
function takeLock(dataDir) {
  const file = path.join(dataDir, LOCK_NAME);
  let pid = null;
  try { pid = Number(fs.readFileSync(file, 'utf8').trim()); } catch (e) { /* no lock yet */ }
  if (pid && pid !== process.pid) {
    let cmdline = '';
    try { cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch (e) { /* gone */ }
    if (cmdline.split('\0').some((arg) => arg === dataDir || arg.endsWith(`=${dataDir}`) || (arg && path.resolve(arg) === dataDir && cmdline.includes('acceptor')))) {
      throw new Corrupt(`data dir ${dataDir} is in use by process ${pid} (see ${file}); two nodes must not share a data dir`);
    }
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`);
  fs.renameSync(tmp, file);
}

function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof Usage)) throw e;
    process.stderr.write(`js-acceptor: ${e.message}\n\n${USAGE}`);
    process.exit(2);
  }
  // Until the server is up, SIGTERM/SIGINT simply end the process (Node
  // delivers signals between event-loop turns, so never in the middle of the
  // synchronous log replay below).
  let stop = () => process.exit(0);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const bugs = opts.bugs;
  if (bugs.size) log(`running with deliberate bugs: ${[...bugs].join(', ')}`);

  let logFile = null;
  const acceptor = new Acceptor(opts.id, bugs, null);
  if (!bugs.has('amnesia')) {
    try {
      mkdirDurable(opts.dataDir);
      takeLock(opts.dataDir);
      logFile = new Log(opts.dataDir, { writeBehind: bugs.has('write-behind') });
      acceptor.instances = logFile.load();
    } catch (e) {
      log(e instanceof Corrupt ? e.message : `cannot open the data dir ${opts.dataDir}: ${e.message}`);
      process.exit(1);
    }
    acceptor.log = logFile;
    log(`loaded ${acceptor.instances.size} keys from ${logFile.file}`);
  }
  // BUG amnesia: the branch above is skipped; state starts empty every time.

  const ctx = { failed: null };
  const server = http.createServer(makeHandler(acceptor, ctx));
  server.keepAliveTimeout = 30000;
  server.requestTimeout = 30000;

  if (logFile) {
    logFile.onFail = (msg) => {
      // Never answer without persisting: 500 to everyone, then stop.
      ctx.failed = msg;
      log(`stopping: ${msg}`);
      server.close();
      setTimeout(() => process.exit(1), 200);
    };
  }

  server.on('error', (e) => {
    log(`cannot listen on ${opts.listen}: ${e.message}`);
    process.exit(1);
  });

  let stopping = false;
  stop = (sig) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    setTimeout(() => process.exit(ctx.failed ? 1 : 0), 1500); // never linger
    server.close();
    server.closeIdleConnections();
    const finish = () => {
      try {
        // A clean stop writes what is pending (only BUG write-behind has
        // acknowledged records pending: its mistake shows under kill -9).
        if (logFile && !logFile.flushing) logFile.drainSync();
      } catch (e) {
        log(`final flush failed: ${e.message}`);
        process.exit(1);
      }
      if (logFile && logFile.flushing) return setTimeout(finish, 10);
      process.exit(ctx.failed ? 1 : 0);
      return undefined;
    };
    finish();
  };

  server.listen(opts.port, opts.host, () => {
    const a = server.address();
    log(`node ${opts.id} serving protocol v1`);
    process.stderr.write(`listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}\n`);
  });
}

main();
