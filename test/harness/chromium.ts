/**
 * Debian's Chromium for the panel tests, driven by playwright-core (never a
 * browser download): where it is and the flags that keep a headless run
 * quiet and off the network.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
