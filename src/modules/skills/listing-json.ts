/**
 * The JSON text of a listing, made in steps of LISTING_CHUNK skills. In one piece, checking and
 * serialising 20,000 summaries held the event loop for 0.2–0.35 s in a new process, which the paced
 * warm-up (pace.ts) ran at a moment nobody asked for it; in steps it gives the event loop a turn between
 * them. The text is byte for byte what JSON.stringify makes of the whole listing.
 */
import { z } from '../../lib/zod';
import { isSkillsList, SkillsList } from './model';

export const LISTING_CHUNK = 500;

export function* listingJsonSteps(body: SkillsList): Generator<void, string> {
  const parts: string[] = [];
  for (let i = 0; i < body.skills.length; i += LISTING_CHUNK) {
    const skills = body.skills.slice(i, i + LISTING_CHUNK);
    // A listing the hand check refuses goes through zod in one piece, whose error says what is wrong.
    if (!isSkillsList({ ...body, skills })) return JSON.stringify(z.parse(SkillsList, body));
    // An array's text is its elements' texts joined by commas, inside brackets.
    parts.push(JSON.stringify(skills).slice(1, -1));
    yield;
  }
  const { skills: _skills, ...rest } = body;
  if (!isSkillsList({ ...rest, skills: [] })) return JSON.stringify(z.parse(SkillsList, body));
  // `skills` is the first key (listing() builds it so): the rest of the object follows it.
  return `{"skills":[${parts.join(',')}],${JSON.stringify(rest).slice(1)}`;
}
