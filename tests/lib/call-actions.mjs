/*
 * call-actions.mjs — what a person does in the app to make a call, for the browser tests
 * (tests/e2e, tests/nat): type the other id and press Call, accept, read the remote video.
 * Each `P` is an app page from browser.mjs openApp(): { page, id, name }.
 */

export async function ring(from, to) {
	await from.page.fill('#peer-id', to.id);
	await from.page.click('#call-btn');
	await to.page.waitForSelector('#incoming[open]', { timeout: 15000 });
}

export async function establish(A, B) {
	await ring(A, B);
	await B.page.click('#incoming-accept');
	await A.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
	await B.page.waitForSelector('#call:not([hidden])', { timeout: 15000 });
}

export const videoState = (page) => page.evaluate(() => {
	const v = document.querySelector('#remote-video');
	return { width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames };
});

/* The camera and microphone of the last call are released (the camera light is off) */
export const tracksEnded = (page) => page.evaluate(() => {
	const s = globalThis.__p2plink.calls.lastLocalStream;
	return !!s && s.getTracks().length > 0 && s.getTracks().every((t) => t.readyState === 'ended');
});
