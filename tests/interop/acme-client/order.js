// The npm package acme-client, as its README uses it, against a padlock ACME directory:
// an account, a dv order for NAME proven by http-01 (this script serves the token itself on
// HTTP_PORT, where padlock's validation fetches it), finalize, download; then a second order
// for the same name with a new key (the renewal). Each chain is written to OUT/cert-N.pem and
// a JSON summary is printed. The server's TLS is trusted through NODE_EXTRA_CA_CERTS.
//
// usage: node order.js DIRECTORY_URL NAME HTTP_PORT OUT
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import acme from 'acme-client';

// Each step to stderr (the test shows it when the script fails), and no request waits for ever.
acme.setLogger((message) => console.error(`${new Date().toISOString()} ${message}`));
acme.axios.defaults.timeout = 20000;

const [directoryUrl, name, httpPort, out] = process.argv.slice(2);
if (!out) {
    console.error('usage: node order.js DIRECTORY_URL NAME HTTP_PORT OUT');
    process.exit(2);
}

// RFC 8555 8.3: the key authorization at /.well-known/acme-challenge/TOKEN, as text.
const tokens = new Map();
const PREFIX = '/.well-known/acme-challenge/';
const server = http.createServer((req, res) => {
    const answer = req.url.startsWith(PREFIX) ? tokens.get(req.url.slice(PREFIX.length)) : undefined;
    console.error(`${new Date().toISOString()} http-01 ${req.method} ${req.url}: ${answer ? 200 : 404}`);
    res.writeHead(answer ? 200 : 404, { 'Content-Type': 'text/plain' });
    res.end(answer ?? 'not found');
});

async function order(client, index) {
    const [key, csr] = await acme.crypto.createCsr({ altNames: [name] });
    const placed = await client.createOrder({ identifiers: [{ type: 'dns', value: name }] });
    for (const authz of await client.getAuthorizations(placed)) {
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        tokens.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
    }
    const finalized = await client.finalizeOrder(placed, csr);
    const chain = await client.getCertificate(finalized);
    const file = path.join(out, `cert-${index}.pem`);
    await writeFile(file, chain);
    await writeFile(path.join(out, `key-${index}.pem`), key);
    return { order: finalized.url, status: finalized.status, file };
}

async function main() {
    await new Promise((resolve, reject) => {
        server.once('error', reject); // a port already taken fails the script at once
        server.listen(Number(httpPort), '127.0.0.1', resolve);
    });
    const client = new acme.Client({
        directoryUrl,
        accountKey: await acme.crypto.createPrivateEcdsaKey(),
        // Poll a pending challenge every quarter second at first, not after 5 s (its
        // default): padlock usually finishes an http-01 check on loopback in milliseconds.
        backoffMin: 250,
        backoffMax: 2000,
    });
    await client.createAccount({
        termsOfServiceAgreed: true,
        contact: ['mailto:webmaster@example.com'],
    });
    const first = await order(client, 1);
    const renewed = await order(client, 2);
    console.log(JSON.stringify({ account: client.getAccountUrl(), orders: [first, renewed] }));
}

main()
    .catch((err) => {
        console.error(err?.stack ?? String(err));
        process.exitCode = 1;
    })
    .finally(() => server.close());
