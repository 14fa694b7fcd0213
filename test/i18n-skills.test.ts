/**
 * Skills named in other scripts: folders created on macOS reach the disk in NFD, users type NFC, CJK
 * keyboards type full-width letters. `search`, `tag` and `category` compare folded text (lib/text.ts).
 */
import { afterEach, beforeEach, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestApp, type TestApp } from './helpers/app';
import { FOLD_KEY_VERSION, foldKey } from '../src/lib/text';

let t: TestApp;

function skill(rel: string, text: string): void {
  mkdirSync(join(t.home, 'skills', rel), { recursive: true });
  writeFileSync(join(t.home, 'skills', rel, 'SKILL.md'), text);
}

async function names(query: string): Promise<string[]> {
  const r = await t.json<{ skills: { name: string }[]; total: number }>('GET', `/api/skills?${query}`);
  expect(r.status).toBe(200);
  return r.body.skills.map((s) => s.name.normalize('NFC'));
}

beforeEach(async () => {
  t = await makeTestApp();
  // A category folder and a skill folder written by macOS (NFD), the name defaulting to the folder's.
  skill(`${'Café'.normalize('NFD')}/${'résumé'.normalize('NFD')}`, '# Title\nWrite a CV.\n');
  skill('日本語/翻訳', '\uFEFF---\r\nname: 翻訳\r\ndescription: 日本語を英語に翻訳する\r\ntags: [翻訳, Ｊａｐａｎｅｓｅ]\r\n---\r\nbody\r\n');
  skill('misc/istanbul', '---\nname: İstanbul Rehberi\ndescription: Die Straße\ntags: [Türkçe]\n---\n');
});
afterEach(() => t.close());

test('category, search and tag match NFC against NFD, across case, accents and full width', async () => {
  expect(await names(`category=${encodeURIComponent('café')}`)).toEqual(['résumé']);
  expect(await names(`category=${encodeURIComponent('CAFE')}`)).toEqual(['résumé']);
  expect(await names(`search=${encodeURIComponent('résumé')}`)).toEqual(['résumé']);
  expect(await names('search=resume')).toEqual(['résumé']);
  expect(await names(`search=${encodeURIComponent('翻訳')}`)).toEqual(['翻訳']);
  expect(await names('tag=japanese')).toEqual(['翻訳']);
  expect(await names(`tag=${encodeURIComponent('JAPANESE')}`)).toEqual(['翻訳']);
  expect(await names('search=istanbul')).toEqual(['İstanbul Rehberi']);
  expect(await names(`search=${encodeURIComponent('İSTANBUL')}`)).toEqual(['İstanbul Rehberi']);
  expect(await names('tag=turkce')).toEqual(['İstanbul Rehberi']);
  expect(await names('search=strasse')).toEqual(['İstanbul Rehberi']);
  expect(await names(`search=${encodeURIComponent('データ')}`)).toEqual([]);
});

test('foldKey keeps letters that are not accents', () => {
  expect(foldKey('データ'.normalize('NFD'))).toBe('データ');
  expect(foldKey('김치'.normalize('NFD'))).toBe('김치');
  expect(foldKey('क्षि')).toBe('क्षि');
  expect(foldKey('ｐｒｏｊｅｃｔ Café')).toBe('project cafe');
});

test('foldKey gives what FOLD_KEY_VERSION promises: a change here must raise it (saved skills indexes hold its keys)', () => {
  const sample = ['Ｄocker', 'Café', 'Cafe\u0301', 'Straße', 'İstanbul', 'ﬁle', 'データ', 'Ωmega', 'ÉCOLE'];
  expect({ version: FOLD_KEY_VERSION, keys: sample.map(foldKey) }).toEqual({
    version: 1,
    keys: ['docker', 'cafe', 'cafe', 'strasse', 'istanbul', 'file', 'データ', 'ωmega', 'ecole'],
  });
});
