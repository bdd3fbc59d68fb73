//! Property tests of `Box2I` against a naive model: a box is the set of the
//! integer points it contains.

use std::collections::BTreeSet;

use imagemapper_core::{Box2I, Extent2I, Point2I};
use proptest::prelude::*;

type Pixels = BTreeSet<(i32, i32)>;

fn pixels(b: &Box2I) -> Pixels {
    let mut s = BTreeSet::new();
    if b.is_empty() {
        return s;
    }
    for y in b.min_y()..=b.max_y() {
        for x in b.min_x()..=b.max_x() {
            s.insert((x, y));
        }
    }
    s
}

fn bounding(s: &Pixels) -> Box2I {
    let mut b = Box2I::EMPTY;
    for &(x, y) in s {
        b = b.expanded_to_point(Point2I::new(x, y)).unwrap();
    }
    b
}

fn arb_box() -> impl Strategy<Value = Box2I> {
    prop_oneof![
        1 => Just(Box2I::EMPTY),
        8 => (-20i32..20, -20i32..20, 0i32..12, 0i32..12).prop_map(|(x, y, w, h)| {
            Box2I::from_corner_dims(Point2I::new(x, y), Extent2I::new(w, h), true).unwrap()
        }),
    ]
}

proptest! {
    #[test]
    fn clip_is_intersection(a in arb_box(), b in arb_box()) {
        let c = a.clipped_to(&b);
        let inter: Pixels = pixels(&a).intersection(&pixels(&b)).copied().collect();
        prop_assert_eq!(pixels(&c), inter.clone());
        prop_assert_eq!(c.is_empty(), inter.is_empty());
        prop_assert_eq!(a.overlaps(&b), !inter.is_empty());
        prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
    }

    #[test]
    fn include_is_bounding_box_of_union(a in arb_box(), b in arb_box()) {
        let u = a.expanded_to_box(&b);
        let union: Pixels = pixels(&a).union(&pixels(&b)).copied().collect();
        prop_assert_eq!(u, bounding(&union));
        prop_assert!(u.contains_box(&a) && u.contains_box(&b));
    }

    #[test]
    fn contains_matches_pixel_sets(a in arb_box(), b in arb_box(), px in -25i32..25, py in -25i32..25) {
        prop_assert_eq!(a.contains_box(&b), pixels(&b).is_subset(&pixels(&a)));
        prop_assert_eq!(a.contains_point(Point2I::new(px, py)), pixels(&a).contains(&(px, py)));
    }

    #[test]
    fn grow_shift_and_area(a in arb_box(), g in -6i32..6, dx in -9i32..9, dy in -9i32..9) {
        let grown = a.dilated_by(Extent2I::new(g, g)).unwrap();
        if a.is_empty() || a.width() + 2 * g <= 0 || a.height() + 2 * g <= 0 {
            prop_assert!(grown.is_empty());
        } else {
            prop_assert_eq!(grown.width(), a.width() + 2 * g);
            prop_assert_eq!(grown.min_x(), a.min_x() - g);
            prop_assert_eq!(grown.eroded_by(Extent2I::new(g, g)).unwrap(), a);
        }
        let moved = a.shifted_by(Extent2I::new(dx, dy)).unwrap();
        let expect: Pixels = pixels(&a).iter().map(|&(x, y)| (x + dx, y + dy)).collect();
        prop_assert_eq!(pixels(&moved), expect);
        prop_assert_eq!(a.area(), pixels(&a).len() as i64);
        prop_assert_eq!(i64::from(a.end_x() - a.begin_x()), i64::from(a.width()));
    }

    #[test]
    fn slices_address_the_right_pixels(p in arb_box(), c in arb_box()) {
        match c.slices_within(&p) {
            Ok((ys, xs)) => {
                prop_assert!(p.contains_box(&c));
                prop_assert_eq!(ys.len() as i32, c.height());
                prop_assert_eq!(xs.len() as i32, c.width());
                if !c.is_empty() {
                    prop_assert_eq!(p.min_x() + xs.start as i32, c.min_x());
                    prop_assert_eq!(p.min_y() + ys.start as i32, c.min_y());
                }
            }
            Err(_) => prop_assert!(!p.contains_box(&c)),
        }
    }
}

#[test]
fn area_past_two_to_the_31() {
    let b = Box2I::from_corner_dims(
        Point2I::new(-100_000, -100_000),
        Extent2I::new(100_000, 50_000),
        true,
    )
    .unwrap();
    assert_eq!(b.area(), 5_000_000_000);
    let parent = b.dilated_by(Extent2I::splat(7)).unwrap();
    let (ys, xs) = b.slices_within(&parent).unwrap();
    assert_eq!(
        (ys.start, xs.start, ys.len(), xs.len()),
        (7, 7, 50_000, 100_000)
    );
}
