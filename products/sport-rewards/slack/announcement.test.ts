import { describe, expect, it } from 'vitest';
import { buildAnnouncement, cleanComment, headline, MAX_COMMENT_CHARS, type ActivityFacts } from './announcement.ts';

const juliette = { firstName: 'Juliette', lastName: 'Mendes' };
const base: ActivityFacts = { activity_id: 2, employee_id: 7, sport_type: 'Runing', elapsed_seconds: 46 * 60, distance_m: 10_800, comment: null };

describe('headline', () => {
  it('reproduces the running example of DOMAIN.md', () => {
    expect(headline(base, juliette)).toBe('Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅');
  });
  it('reproduces the hiking example of DOMAIN.md', () => {
    const hike = { ...base, sport_type: 'Randonnée', distance_m: 10_000, elapsed_seconds: 3 * 3600 };
    expect(headline(hike, { firstName: 'Laurence', lastName: 'Attal' })).toBe('Magnifique Laurence Attal ! Une randonnée de 10 km terminée ! 🏕');
  });
  it('varies the wording by sport type', () => {
    const lines = ['Vélo', 'Natation', 'Tennis', 'Escalade', 'Tennis de table', 'Triathlon'].map((sport_type) =>
      headline({ ...base, sport_type, distance_m: ['Tennis', 'Escalade', 'Tennis de table'].includes(sport_type) ? null : 1_500, elapsed_seconds: 65 * 60 }, juliette),
    );
    expect(lines).toEqual([
      'Chapeau Juliette Mendes ! 1,5 km à vélo en 1 h 05 ! 🚴',
      'Splendide Juliette Mendes ! 1,5 km de natation en 1 h 05 ! 🏊',
      'Bien joué Juliette Mendes ! 1 h 05 de tennis ! 🎾',
      'Bien joué Juliette Mendes ! 1 h 05 d’escalade ! 🧗',
      'Bien joué Juliette Mendes ! 1 h 05 de tennis de table ! 🏓',
      'Respect Juliette Mendes ! Un triathlon de 1,5 km bouclé en 1 h 05 ! 🏊🚴🏃',
    ]);
  });
  it('picks the variant from the activity id, so a retry is identical', () => {
    const odd = { ...base, activity_id: 3 };
    expect(headline(odd, juliette)).toBe('Belle foulée Juliette Mendes ! 10,8 km de course à pied en 46 min ! 🏃');
    expect(headline(odd, juliette)).toBe(headline({ ...odd }, juliette));
  });
  it('handles a distance sport logged without a distance, and unknown sports', () => {
    expect(headline({ ...base, distance_m: null }, juliette)).toBe('Bravo Juliette Mendes ! 46 min de course à pied ! Quelle énergie ! 🔥');
    expect(headline({ ...base, sport_type: 'Aviron', distance_m: null }, juliette)).toBe('Bravo Juliette Mendes ! Une séance d’Aviron de 46 min ! 💪');
    expect(headline({ ...base, sport_type: 'Kayak', distance_m: 5_000 }, juliette)).toBe('Bravo Juliette Mendes ! Kayak : 5 km en 46 min ! 💪');
  });
});

describe('buildAnnouncement', () => {
  it('builds Block Kit with a text fallback and quotes the comment', () => {
    const message = buildAnnouncement({ ...base, comment: 'Nouveau record  personnel\n!' }, juliette);
    expect(message).toEqual({
      text: 'Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅\n« Nouveau record personnel ! »',
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: 'Bravo Juliette Mendes ! Tu viens de courir 10,8 km en 46 min ! Quelle énergie ! 🔥🏅' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: '💬 « Nouveau record personnel ! »' }] },
      ],
    });
  });
  it('omits the comment block when there is no comment', () => {
    expect(buildAnnouncement({ ...base, comment: '   ' }, juliette).blocks).toHaveLength(1);
  });
  it('escapes Slack control characters in user text', () => {
    const message = buildAnnouncement({ ...base, comment: '<!channel> & co' }, { firstName: 'A<b>', lastName: 'C' });
    expect(message.text).toContain('A&lt;b&gt; C');
    expect(message.text).toContain('« &lt;!channel&gt; &amp; co »');
  });
  it('carries only the name and the activity', () => {
    const message = buildAnnouncement(base, juliette);
    expect(JSON.stringify(message)).not.toMatch(/salary|salaire|adresse|address|\b7\b/);
  });
});

describe('cleanComment', () => {
  it('cuts long comments with an ellipsis', () => {
    const cut = cleanComment('é'.repeat(400)) as string;
    expect([...cut]).toHaveLength(MAX_COMMENT_CHARS);
    expect(cut.endsWith('…')).toBe(true);
  });
});
