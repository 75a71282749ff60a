// The lock in front of the door openers on this phone: a PIN set here (stored as a salted
// PBKDF2 hash, never sent anywhere) and, where the device has a platform authenticator, WebAuthn
// with user verification (fingerprint, face, device PIN). Both are local gates for this app.
const pinKey = 'carillon.pin';
const webauthnKey = 'carillon.webauthn';
const unlockMs = 60_000;
let unlockedUntil = 0;

const b64 = (b: ArrayBuffer | Uint8Array) => btoa(String.fromCharCode(...new Uint8Array(b)));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function derive(pin: string, salt: Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(pin), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: salt as BufferSource, iterations: 100_000 }, key, 256);
  return b64(bits);
}

export function pinSet(): boolean {
  return localStorage.getItem(pinKey) !== null;
}

export async function setPin(pin: string | null): Promise<void> {
  unlockedUntil = 0;
  if (!pin) {
    localStorage.removeItem(pinKey);
    localStorage.removeItem(webauthnKey);
    return;
  }
  const salt = crypto.getRandomValues(new Uint8Array(16));
  localStorage.setItem(pinKey, JSON.stringify({ salt: b64(salt), hash: await derive(pin, salt) }));
}

export async function unlockWithPin(pin: string): Promise<boolean> {
  const saved = JSON.parse(localStorage.getItem(pinKey) ?? 'null') as { salt: string; hash: string } | null;
  if (!saved) return true;
  const ok = (await derive(pin, unb64(saved.salt))) === saved.hash;
  if (ok) unlockedUntil = Date.now() + unlockMs;
  return ok;
}

// True when a door may be opened without asking (no PIN set, or unlocked a moment ago).
export function unlocked(): boolean {
  return !pinSet() || Date.now() < unlockedUntil;
}

export async function webauthnAvailable(): Promise<boolean> {
  const pkc = (window as any).PublicKeyCredential;
  if (!pkc?.isUserVerifyingPlatformAuthenticatorAvailable || !window.isSecureContext) return false;
  // The relying party ID is the page's domain; an app reached by IP address cannot use WebAuthn.
  if (/^[\d.]+$/.test(location.hostname) || location.hostname.includes(':') || location.hostname.startsWith('[')) return false;
  return pkc.isUserVerifyingPlatformAuthenticatorAvailable().catch(() => false);
}

export function webauthnEnrolled(): boolean {
  return localStorage.getItem(webauthnKey) !== null;
}

export async function enrollWebAuthn(username: string): Promise<void> {
  const credential = (await navigator.credentials.create({
    publicKey: {
      challenge: crypto.getRandomValues(new Uint8Array(32)),
      rp: { name: 'Carillon' },
      user: { id: crypto.getRandomValues(new Uint8Array(16)), name: username, displayName: username },
      pubKeyCredParams: [
        { type: 'public-key', alg: -7 },
        { type: 'public-key', alg: -257 },
      ],
      authenticatorSelection: { authenticatorAttachment: 'platform', userVerification: 'required' },
      timeout: 60_000,
    },
  })) as PublicKeyCredential | null;
  if (!credential) throw new Error('no credential');
  localStorage.setItem(webauthnKey, b64(credential.rawId));
}

export async function unlockWithWebAuthn(): Promise<boolean> {
  const id = localStorage.getItem(webauthnKey);
  if (!id) return false;
  try {
    const assertion = await navigator.credentials.get({
      publicKey: {
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        allowCredentials: [{ type: 'public-key', id: unb64(id) }],
        userVerification: 'required',
        timeout: 60_000,
      },
    });
    if (!assertion) return false;
    unlockedUntil = Date.now() + unlockMs;
    return true;
  } catch {
    return false;
  }
}
