// @ts-check
// The verification code (docs/protocol.md, "Verification code"): both
// sides hash the two DTLS certificate fingerprints of their connection,
// each as it sees them, into four words and six digits. Whoever rewrote a
// fingerprint in transit (the signaling server, say) makes the two sides'
// codes differ. No DOM.

/** @type {Record<string, string[]>} 64 words a language, in the same order: one code reads in either */
const words = {
  en: ("apple bear bell bike bird boat book bread bridge cake camel candle car castle cat chair " +
    "cheese cloud coin corn cow crab drum duck eagle egg fish flag flower fork fox frog " +
    "garden gift goat grape hat horse house key kite lamp leaf lemon lion moon mouse nest " +
    "owl panda pear pen piano rabbit rain ring river rocket rose sheep ship snow star tiger").split(" "),
  "zh-CN": ("苹果 熊 铃铛 单车 小鸟 小船 书本 面包 桥 蛋糕 骆驼 蜡烛 汽车 城堡 猫 椅子 " +
    "奶酪 云朵 硬币 玉米 奶牛 螃蟹 鼓 鸭子 老鹰 鸡蛋 鱼 旗子 花朵 叉子 狐狸 青蛙 " +
    "花园 礼物 山羊 葡萄 帽子 马 房子 钥匙 风筝 台灯 树叶 柠檬 狮子 月亮 老鼠 鸟巢 " +
    "猫头鹰 熊猫 梨 钢笔 钢琴 兔子 雨 戒指 河流 火箭 玫瑰 绵羊 轮船 雪花 星星 老虎").split(" "),
};

/** @typedef {{indexes: number[], digits: string}} Code */

// The first DTLS fingerprint of a description, as "sha-256 AB:CD:…".
/** @param {string} sdp @returns {string} "" when there is none */
export function fingerprint(sdp) {
  const m = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\s*$/m.exec(sdp);
  return m ? m[1].toLowerCase() + " " + m[2].toUpperCase() : "";
}

// The code of two fingerprints, in either order.
/** @param {string} a @param {string} b @returns {Promise<Code>} */
export async function deriveCode(a, b) {
  const [x, y] = [a, b].sort();
  const data = new TextEncoder().encode("tandem verification 1\n" + x + "\n" + y);
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const bits = (h[0] << 16) | (h[1] << 8) | h[2];
  return {
    indexes: [18, 12, 6, 0].map((shift) => (bits >> shift) & 63),
    digits: String(((h[3] << 16) | (h[4] << 8) | h[5]) % 1000000).padStart(6, "0"),
  };
}

/** @param {Code} code @param {string} lang @returns {string[]} */
export const codeWords = (code, lang) => code.indexes.map((i) => (words[lang] || words.en)[i]);

// The code as plain ASCII: the English words and the digits, joined by "-".
/** @param {Code} code */
export const asciiCode = (code) => [...codeWords(code, "en"), code.digits].join("-");

// The code of a connection with both descriptions set.
/** @param {RTCPeerConnection} pc @returns {Promise<Code | null>} */
export async function connectionCode(pc) {
  const local = fingerprint(pc.localDescription?.sdp || "");
  const remote = fingerprint(pc.remoteDescription?.sdp || "");
  return local && remote ? deriveCode(local, remote) : null;
}
