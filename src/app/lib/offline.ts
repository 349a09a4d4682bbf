// Telling "the network is gone" apart from other load failures, so that an offline visit to a model that was never
// downloaded gets a page that says so (and what to do) instead of the browser's bare "Failed to fetch".

// What browsers put in a fetch() rejection when no response arrived at all (Chromium, Firefox, Safari), and
// Chromium's net error names; an HTTP error status is a response, so it is not one of these.
const NO_RESPONSE = /failed to fetch|networkerror|network request failed|load failed|net::ERR_|ERR_INTERNET_DISCONNECTED/i;

/** True when a load failed because nothing answered: the browser is offline or the server is unreachable. */
export function isNetworkFailure(message: string | null | undefined, online: boolean): boolean {
  if (!message) return false;
  if (NO_RESPONSE.test(message)) return true;
  // Offline, a download that failed for any reason other than a status the server sent is the network.
  return !online && /could not download/i.test(message) && !/HTTP \d{3}/.test(message);
}
