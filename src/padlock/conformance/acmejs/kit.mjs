// padlock conformance: the npm package acme-client, as its README uses it, against any ACME
// directory. One account does every feature in turn; each feature's verdict goes into a JSON
// object printed on the last line: {"features": {KEY: {"ok": bool, "reason": str}}}.
// The server's TLS is trusted through NODE_EXTRA_CA_CERTS.
//
// usage: node kit.mjs PLAN.json   (written by padlock.conformance.drivers.acmejs)
import { appendFile, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import acme from 'acme-client';

acme.setLogger((message) => console.error(`${new Date().toISOString()} ${message}`));
acme.axios.defaults.timeout = 20000;

const plan = JSON.parse(await readFile(process.argv[2], 'utf8'));
const features = {};
const tokens = new Map(); // http-01: token -> key authorization
const alpn = new Map(); // tls-alpn-01: name -> secure context

const web = http.createServer((req, res) => {
    const answer = tokens.get(req.url.replace('/.well-known/acme-challenge/', ''));
    res.writeHead(answer ? 200 : 404, { 'Content-Type': 'text/plain' });
    res.end(answer ?? 'not found');
});
const alpnServer = tls.createServer({
    ALPNProtocols: ['acme-tls/1'],
    SNICallback: (name, done) => done(null, alpn.get(name)),
});

async function prove(client, authz, kind) {
    const challenge = authz.challenges.find((c) => c.type === kind);
    if (!challenge) throw new Error(`the server offers no ${kind} challenge`);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    const name = authz.identifier.value;
    const record = path.join(plan.txtDir, `_acme-challenge.${name}`.toLowerCase());
    if (kind === 'http-01') tokens.set(challenge.token, keyAuthorization);
    if (kind === 'dns-01') await appendFile(record, `${keyAuthorization}\n`);
    if (kind === 'tls-alpn-01') {
        const [key, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization);
        alpn.set(name, tls.createSecureContext({ key, cert }));
    }
    try {
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
    } finally {
        if (kind === 'dns-01') await rm(record, { force: true });
    }
}

async function obtain(client, names, kind, extra = {}) {
    const identifiers = names.map((value) => ({ type: 'dns', value }));
    const order = await client.createOrder({ identifiers, ...extra });
    for (const authz of await client.getAuthorizations(order)) {
        if (authz.status !== 'valid') await prove(client, authz, kind);
    }
    const [key, csr] = await acme.crypto.createCsr({ altNames: names });
    const done = await client.finalizeOrder(order, csr);
    return { key, cert: await client.getCertificate(done), order: done };
}

async function feature(key, action) {
    try {
        await action();
        features[key] = { ok: true, reason: '' };
    } catch (err) {
        const said = err?.message ?? String(err);
        console.error(`${key}: ${err?.stack ?? said}`);
        features[key] = { ok: false, reason: said.slice(0, 240) };
    }
}

async function newClient(extra = {}) {
    const client = new acme.Client({
        directoryUrl: plan.directory,
        accountKey: await acme.crypto.createPrivateEcdsaKey(),
        backoffMin: 250,
        backoffMax: 2000,
        ...extra,
    });
    await client.createAccount({ termsOfServiceAgreed: true, contact: ['mailto:webmaster@example.com'] });
    return client;
}

async function main() {
    await new Promise((ok, no) => web.once('error', no).listen(plan.httpPort, '127.0.0.1', ok));
    await new Promise((ok, no) => alpnServer.once('error', no).listen(plan.tlsPort, '127.0.0.1', ok));
    if (plan.eab) {
        await feature('account-eab', () => newClient({ externalAccountBinding: plan.eab }));
    }
    let client;
    await feature('account', async () => { client = await newClient(); });
    if (!client) return;
    let issued;
    await feature('http-01', async () => { issued = await obtain(client, [plan.names.http], 'http-01'); });
    await feature('dns-01', () => obtain(client, [plan.names.dns], 'dns-01'));
    await feature('tls-alpn-01', () => obtain(client, [plan.names.alpn], 'tls-alpn-01'));
    await feature('wildcard', () => obtain(client, [`*.${plan.names.wild}`, plan.names.wild], 'dns-01'));
    if (plan.profile) {
        await feature('profile', async () => {
            const got = await obtain(client, [plan.names.profile], 'http-01', { profile: plan.profile });
            if (got.order.profile !== plan.profile) throw new Error(`the order says profile ${got.order.profile}`);
        });
    }
    await feature('key-change', async () => client.updateAccountKey(await acme.crypto.createPrivateEcdsaKey()));
    if (issued) await feature('revoke-account', () => client.revokeCertificate(issued.cert));
    await feature('deactivate', () => client.updateAccount({ status: 'deactivated' }));
}

try {
    await main();
} catch (err) {
    console.error(err?.stack ?? String(err));
    process.exitCode = 1;
} finally {
    web.close();
    alpnServer.close();
    console.log(JSON.stringify({ features }));
}
